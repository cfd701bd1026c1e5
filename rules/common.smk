import sys

from clipasgd.pipeline import claim_config
from clipasgd.provenance import config_hash

SCALE = config["scale"]
PY = sys.executable
# Claims with their own simulation, and claims that reuse another claim's runs.
SIMULATED = ["tau_max", "rate_shape", "tails", "high_prob"]
DATA_FROM = {"tau_max": "tau_max", "virtual": "tau_max", "rate_shape": "rate_shape",
             "tails": "tails", "high_prob": "high_prob", "high_prob_tail": "high_prob",
             "high_prob_tau_max": "high_prob"}
CLAIMS = list(DATA_FROM)


def claim_outputs(claim, scale=SCALE):
    return [f"data/{scale}/claims/{claim}.json",
            f"figures/{scale}/{claim}.pdf", f"figures/{scale}/{claim}.png",
            f"notebooks/executed/{scale}/{claim}.ipynb",
            f"notebooks/executed/{scale}/{claim}.html"]


def section_hash(wildcards):
    """Hash of the claim's merged config section: a rule re-runs when it changes."""
    return config_hash(claim_config(config, wildcards.claim, wildcards.scale))
