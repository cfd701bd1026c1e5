# The claim pattern: simulate -> verdict -> notebook (figures) -> summary.

rule simulate:
    """Run a claim's experiments (progress on stderr, copied to the log)."""
    input:
        data_inputs,  # rules/data.smk: real data sets, only where the scale reads them
    output:
        "data/{scale}/{claim}/meta.json",
    wildcard_constraints:
        claim="|".join(SIMULATED),
    params:
        section=section_hash,
    log:
        "logs/{scale}/simulate_{claim}.log",
    shell:
        "{PY} -m clipasgd.pipeline simulate {wildcards.claim} --scale {wildcards.scale}"
        " 2>&1 | tee {log}"


rule verdict:
    """Compute a claim's verdict from its data (no simulation here)."""
    input:
        lambda w: f"data/{w.scale}/{DATA_FROM[w.claim]}/meta.json",
    output:
        "data/{scale}/claims/{claim}.json",
    params:
        section=section_hash,
    wildcard_constraints:
        claim="|".join(CLAIMS),
    shell:
        "{PY} -m clipasgd.pipeline verdict {wildcards.claim} --scale {wildcards.scale}"


rule notebook:
    """Execute the claim's notebook with papermill; it draws the figures."""
    input:
        nb="notebooks/{claim}.ipynb",
        verdict="data/{scale}/claims/{claim}.json",
    output:
        ipynb="notebooks/executed/{scale}/{claim}.ipynb",
        html="notebooks/executed/{scale}/{claim}.html",
        pdf="figures/{scale}/{claim}.pdf",
        png="figures/{scale}/{claim}.png",
    wildcard_constraints:
        claim="|".join(CLAIMS),
    log:
        "logs/{scale}/notebook_{claim}.ipynb",
    shell:
        "{PY} -m papermill {input.nb} {log} -k python3 -p scale {wildcards.scale} --cwd . -p root ."
        " && cp {log} {output.ipynb}"
        " && {PY} -m jupyter nbconvert --to html --log-level WARN {output.ipynb}"
        " --output-dir notebooks/executed/{wildcards.scale}"


rule summary:
    input:
        expand("data/{{scale}}/claims/{claim}.json", claim=CLAIMS),
    output:
        json="data/{scale}/summary.json",
        md="data/{scale}/summary.md",
    shell:
        "{PY} -m clipasgd.pipeline summary --scale {wildcards.scale} --claims " + " ".join(CLAIMS)


# One target per claim, generated from the registry: `snakemake claim_<id>`
# (add --config scale=paper for full size).
for _claim in CLAIMS:
    rule:
        name: f"claim_{_claim}"
        input: claim_outputs(_claim)
