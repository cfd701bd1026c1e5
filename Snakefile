# Verification pipeline for Erickson & Johansson (ICML 2026). Thin by design:
# rules live in rules/*.smk, settings in config/config.yaml (schema-validated).
#   snakemake                        # every claim at the configured scale (quick)
#   snakemake claim_tau_max          # one claim
#   snakemake --config scale=paper   # full size; outputs keyed by scale
from snakemake.utils import min_version, validate

min_version("8.0")

configfile: "config/config.yaml"
validate(config, "config/config.schema.json")
report: "report/workflow.rst"

include: "rules/common.smk"

wildcard_constraints:
    **WILDCARDS

include: "rules/data.smk"


rule all:
    default_target: True
    input:
        f"data/{SCALE}/summary.json",
        f"data/{SCALE}/summary.md",
        f"data/{SCALE}/index.html",
        f"data/{SCALE}/runs.csv",
        [claim_outputs(c) for c in CLAIMS],


include: "rules/claims.smk"
