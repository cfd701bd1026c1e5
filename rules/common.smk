# Definitions only (no rules here: `snakemake --lint` asks not to mix the two).
import os
import re
import sys

from clipasgd.claims import CLAIM_IDS, DATA_FROM, SIMULATED
from clipasgd.claims.base import code_fingerprint
from clipasgd.datasets import DATASETS, needed
from clipasgd.pipeline import (check_config, check_configfiles, claim_config, logged_shell,
                               section_hash as _section_hash, shard_count, tables_state,
                               write_merged_config)

# The config files themselves (duplicate keys, aliases, size: Snakemake's loader accepts
# them), then the config after --configfile/--config overrides, checked like `check-config`
# does (finite numbers, each claim's section merged at every scale), then written to a file
# keyed by its hash: every job reads exactly this config ($CLIPASGD_CONFIG).
check_configfiles(workflow.configfiles)
check_config(config, "config/config.schema.json", "config (with command-line overrides)")
os.environ.update(CLIPASGD_CONFIG=str(write_merged_config(config)))
# The interpreter the rules run (quoted in every rule: paths may hold spaces).
os.environ.setdefault("CLIPASGD_PY", sys.executable)

SCALE = config["scale"]
# Everything about the claims comes from their modules' CLAIM (clipasgd.claims.REGISTRY).
CLAIMS = list(CLAIM_IDS)
# Code the results depend on (AST less docstrings; comments do not count) and the code
# that only draws figures and pages: a change of either reruns the rules that use it.
CODE = code_fingerprint()
PLOTS = code_fingerprint(presentation=True)
# Resources per scale: a SLURM-style executor reads these (mem_mb in MB, runtime in min).
SIM_MEM = {"smoke": 2000, "quick": 4000, "paper": 8000}
SIM_RUNTIME = {"smoke": 30, "quick": 60, "paper": 720}


def claim_outputs(claim, scale=SCALE):
    return [f"data/{scale}/claims/{claim}.json",
            f"figures/{scale}/{claim}.pdf", f"figures/{scale}/{claim}.png",
            f"notebooks/executed/{scale}/{claim}.ipynb",
            f"notebooks/executed/{scale}/{claim}.html"]


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


def shard_files(wildcards):
    """The claim's shard stamps: one Snakemake job per share of its grid points."""
    count = shard_count(config, wildcards.scale)
    return [f"data/{wildcards.scale}/{wildcards.claim}/shards/{k}-of-{count}.json"
            for k in range(1, count + 1)]


def sim_mem(wildcards):
    return SIM_MEM.get(wildcards.scale, 8000)


def sim_runtime(wildcards):
    return SIM_RUNTIME.get(wildcards.scale, 720)


def data_inputs(wildcards):
    """The fetch_data stamps a claim's simulation needs at this scale."""
    problem = claim_config(config, wildcards.claim, wildcards.scale).get("problem", {})
    return [f"data/raw/{d}.json" for d in needed(problem)]
