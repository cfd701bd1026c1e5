# Definitions only (no rules here: `snakemake --lint` asks not to mix the two).
import json
import os
import re
import sys

from clipasgd.claims import CLAIM_IDS, DATA_FROM, SIMULATED, get_claim
from clipasgd.claims.base import MECHANISMS, code_fingerprint
from clipasgd.claims.words import words_hash
from clipasgd.datasets import DATASETS, section_needs
from clipasgd.pipeline import (ablation_mechanisms, check_config, check_configfiles,
                               claim_config, logged_shell, needed_ablations,
                               section_hash as _section_hash, select_claims,
                               shard_count, shard_name, tables_state, write_merged_config)
from clipasgd.provenance import config_hash
from clipasgd.runner import Shard, later_stages

# The config files themselves (duplicate keys, aliases, size: Snakemake's loader accepts
# them), then the config after --configfile/--config overrides, checked like `check-config`
# does (finite numbers, each claim's section merged at every scale), then written to a file
# keyed by its hash: every job reads exactly this config ($CLIPASGD_CONFIG).
check_configfiles(workflow.configfiles)
check_config(config, "config/config.schema.json", "config (with command-line overrides)")
os.environ.update(CLIPASGD_CONFIG=str(write_merged_config(config)))
# The interpreter the rules run (quoted in every rule: paths may hold spaces).
os.environ.setdefault("CLIPASGD_PY", sys.executable)
# One BLAS thread per job (each job is one thread: a shard with several BLAS threads burns
# several times the CPU it needs on a loaded machine); a user's own setting wins.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

SCALE = config["scale"]
# Everything about the claims comes from their modules' CLAIM (clipasgd.claims.REGISTRY).
# `--config only=[a,b]` runs a subset (unknown ids are refused by name).
CLAIMS = select_claims(config.get("only"))
# Code the results depend on (AST less docstrings; comments do not count) and the code
# that only draws figures and pages: a change of either reruns the rules that use it.
CODE = code_fingerprint()
PLOTS = code_fingerprint(presentation=True)
# Resources a SLURM-style executor reads (mem_mb in MB, runtime in min), from measured
# peaks with a margin (README, "Clusters"): peak RSS about 250 MB for each check or
# simulate job of a smoke tau_max run, 145 MB for a verdict, 230 MB for a notebook, and
# 945 MB to build a real-data claim's problems (fig2_speedup's check, quick and paper).
# Simulation memory grows with the scale's replications and evaluation sets (paper: not
# measured, hence the wider margin; tau_max's per-replication schedules took 0.98 GB at
# quick, 440 runs, so about 4.5 GB at paper's 2000); a gather only concatenates cached points
# (a claim's later stages, fresh/control seeds, are sharded too: rule simulate_stage_shard).
SIM_MEM = {"smoke": 1000, "quick": 1500, "paper": 6000}
DATA_MEM = 2000  # added where the job loads a real data set
SIM_RUNTIME = {"smoke": 30, "quick": 60, "paper": 720}
GATHER_RUNTIME = 10
# Names of the designs' later stages (each split into shards once the stage before is done).
LATER_STAGES = sorted({s for c in SIMULATED for s in later_stages(get_claim(c))})


def claim_outputs(claim, scale=SCALE):
    """A claim's target files, its data stamp included: Snakemake ignores a missing input of
    a job whose outputs are up to date, so without it `rm -rf data/<scale>/<claim>` left
    `snakemake claim_<id>` with "Nothing to be done" (a target's missing input reruns)."""
    return [f"data/{scale}/{DATA_FROM[claim]}/meta.json", f"data/{scale}/claims/{claim}.json",
            f"figures/{scale}/{claim}.pdf", f"figures/{scale}/{claim}.png",
            f"notebooks/executed/{scale}/{claim}.ipynb",
            f"notebooks/executed/{scale}/{claim}.html"]


def verdict_inputs(wildcards):
    """A claim's data and the ablations of the mechanisms it credits (same source)."""
    source = DATA_FROM[wildcards.claim]
    return [f"data/{wildcards.scale}/{source}/meta.json"] + [
        f"data/{wildcards.scale}/{source}/ablation-{m}/meta.json"
        for m in ablation_mechanisms(wildcards.claim)]


def section_hash(wildcards):
    """Hash of the claim's merged config section and of the files it names (user data and
    code): a rule re-runs when either changes."""
    return _section_hash(config, wildcards.claim, wildcards.scale)


def merged_tables(wildcards):
    """"ok" or the damaged merged tables of the claim's data: damage reruns the verdict."""
    return tables_state(wildcards.scale, wildcards.claim)


# Every wildcard constrained (rules add narrower ones): no target name outside these
# reaches a rule's shell command.
WILDCARDS = {"scale": "|".join(re.escape(s) for s in config["scales"]),
             "claim": "|".join(CLAIMS), "k": r"\d+", "n": r"\d+"}


def _stage_shards(scale, claim, stage):
    """The shard stamps of one stage (None: the first grid), one Snakemake job each."""
    count = shard_count(config, scale)
    return [f"data/{scale}/{claim}/shards/{shard_name(Shard(k, count, stage))}"
            for k in range(count)]


def shard_files(wildcards):
    """The shard stamps a claim's gathers wait for: those of its last stage (each later
    stage's shards wait for the stage before: rule simulate_stage_shard)."""
    stages = later_stages(get_claim(wildcards.claim))
    return _stage_shards(wildcards.scale, wildcards.claim, stages[-1] if stages else None)


def earlier_shard_files(wildcards):
    """A later stage's shard waits for every shard of the stage before it (its points
    are chosen from that stage's tables)."""
    stages = [None, *later_stages(get_claim(wildcards.claim))]
    before = stages[stages.index(wildcards.stage) - 1]
    return _stage_shards(wildcards.scale, wildcards.claim, before)


def sim_mem(wildcards):
    return SIM_MEM.get(wildcards.scale, 3000) + check_mem(wildcards) - 1000


def check_mem(wildcards):
    """1000 MB, plus DATA_MEM where the claim reads a real data set at this scale."""
    return 1000 + (DATA_MEM if data_inputs(wildcards) else 0)


def sim_runtime(wildcards):
    return SIM_RUNTIME.get(wildcards.scale, 720)


def data_inputs(wildcards):
    """The fetch_data stamps a claim's simulation needs at this scale."""
    section = claim_config(config, wildcards.claim, wildcards.scale)
    return [f"data/raw/{d}.json" for d in section_needs(section)]


def paper_ref(wildcards):
    """The claim's reference in the paper (the report's figure caption shows it)."""
    return get_claim(wildcards.claim).paper_ref


def figure_labels(wildcards):
    """Labels of a claim's figure in `snakemake --report`: claim, paper reference, verdict
    (from its verdict file; "not run" before it exists)."""
    path = f"data/{wildcards.scale}/claims/{wildcards.claim}.json"
    verdict = json.load(open(path))["verdict"] if os.path.isfile(path) else "not run"
    return {"claim": wildcards.claim, "paper": paper_ref(wildcards), "verdict": verdict}
