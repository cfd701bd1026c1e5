import sys

from clipasgd.claims import CLAIM_IDS, DATA_FROM, SIMULATED
from clipasgd.pipeline import claim_config
from clipasgd.provenance import config_hash

SCALE = config["scale"]
PY = sys.executable
# Everything about the claims comes from their modules' CLAIM (clipasgd.claims.REGISTRY).
CLAIMS = list(CLAIM_IDS)


def claim_outputs(claim, scale=SCALE):
    return [f"data/{scale}/claims/{claim}.json",
            f"figures/{scale}/{claim}.pdf", f"figures/{scale}/{claim}.png",
            f"notebooks/executed/{scale}/{claim}.ipynb",
            f"notebooks/executed/{scale}/{claim}.html"]


def section_hash(wildcards):
    """Hash of the claim's merged config section: a rule re-runs when it changes."""
    return config_hash(claim_config(config, wildcards.claim, wildcards.scale))
