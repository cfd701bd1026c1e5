# The claim pattern: check -> simulate shards (first grid, then each later stage's) ->
# gather -> verdict -> notebook -> summary.
# Every rule: one thread, declared resources, a log per attempt (<log>.history keeps all),
# a Snakemake benchmark (logs/<scale>/bench/<rule>/: wall, peak memory, CPU seconds),
# quoted paths, the interpreter from $CLIPASGD_PY and the merged config $CLIPASGD_CONFIG.


rule check_claim:
    """Build the claim's problems, workers and grid (cheap) before any simulation."""
    input:
        data_inputs,  # a real-data problem is built only once its data set is fetched
    output:
        "data/{scale}/{claim}/checked.json",
    wildcard_constraints:
        claim="|".join(SIMULATED),
    params:
        section=section_hash,
        code=CODE,
    threads: 1
    resources:
        mem_mb=check_mem,
        runtime=10,
    log:
        "logs/{scale}/check_{claim}.log",
    benchmark:
        "logs/{scale}/bench/check_claim/{claim}.tsv"
    conda:
        "../envs/clipasgd.yaml"
    shell:
        logged_shell('"$CLIPASGD_PY" -m clipasgd.pipeline check-config {wildcards.claim:q}'
                     ' --scale {wildcards.scale:q} --config "$CLIPASGD_CONFIG" --stamp {output:q}')


rule simulate_shard:
    """One share of a claim's grid points and of its ablations' (one job each: cores or a
    cluster run them in parallel; a run an ablation shares with the claim is simulated
    once); finished points are cached in data/<scale>/<claim>/parts/ and
    data/<scale>/<claim>/ablation-<mechanism>/parts/."""
    input:
        "data/{scale}/{claim}/checked.json",
        data_inputs,  # real data sets, only where the scale reads them (rules/data.smk)
    output:
        "data/{scale}/{claim}/shards/{k}-of-{n}.json",
    wildcard_constraints:
        claim="|".join(SIMULATED),
        k=r"\d+",
        n=r"\d+",
    params:
        section=section_hash,
        code=CODE,
        ablations=lambda w: ",".join(needed_ablations(w.claim)),
    threads: 1
    resources:
        mem_mb=sim_mem,
        runtime=sim_runtime,
    log:
        "logs/{scale}/simulate_{claim}_{k}-of-{n}.log",
    benchmark:
        "logs/{scale}/bench/simulate_shard/{claim}_{k}-of-{n}.tsv"
    conda:
        "../envs/clipasgd.yaml"
    shell:
        logged_shell('"$CLIPASGD_PY" -m clipasgd.pipeline simulate {wildcards.claim:q}'
                     ' --scale {wildcards.scale:q} --config "$CLIPASGD_CONFIG"'
                     ' --shard {wildcards.k:q}/{wildcards.n:q} --ablations={params.ablations:q}')


rule simulate_stage_shard:
    """One share of a later stage's points (the figure claims' and delay_sweep's fresh and
    control seeds, chosen from the first grid's tables), of the claim and its ablations,
    once every shard of the stage before is done: the stage no longer runs in one gather
    job on one core."""
    input:
        earlier_shard_files,
        data_inputs,
    output:
        "data/{scale}/{claim}/shards/{stage}-{k}-of-{n}.json",
    wildcard_constraints:
        claim="|".join(SIMULATED),
        stage="|".join(LATER_STAGES) or "(?!)",
        k=r"\d+",
        n=r"\d+",
    params:
        section=section_hash,
        code=CODE,
        ablations=lambda w: ",".join(needed_ablations(w.claim)),
    threads: 1
    resources:
        mem_mb=sim_mem,
        runtime=sim_runtime,
    log:
        "logs/{scale}/simulate_{claim}_{stage}-{k}-of-{n}.log",
    benchmark:
        "logs/{scale}/bench/simulate_stage_shard/{claim}_{stage}-{k}-of-{n}.tsv"
    conda:
        "../envs/clipasgd.yaml"
    shell:
        logged_shell('"$CLIPASGD_PY" -m clipasgd.pipeline simulate {wildcards.claim:q}'
                     ' --scale {wildcards.scale:q} --config "$CLIPASGD_CONFIG"'
                     ' --shard {wildcards.k:q}/{wildcards.n:q} --stage {wildcards.stage:q}'
                     ' --ablations={params.ablations:q}')


rule simulate:
    """Gather a claim's shards: every point is cached, so this only concatenates."""
    input:
        shard_files,
    output:
        "data/{scale}/{claim}/meta.json",
    wildcard_constraints:
        claim="|".join(SIMULATED),
    params:
        section=section_hash,
        code=CODE,
    threads: 1
    resources:
        mem_mb=sim_mem,
        runtime=GATHER_RUNTIME,
    log:
        "logs/{scale}/simulate_{claim}.log",
    benchmark:
        "logs/{scale}/bench/simulate/{claim}.tsv"
    conda:
        "../envs/clipasgd.yaml"
    shell:
        logged_shell('"$CLIPASGD_PY" -m clipasgd.pipeline simulate {wildcards.claim:q}'
                     ' --scale {wildcards.scale:q} --config "$CLIPASGD_CONFIG"')


rule simulate_ablation:
    """The claim's design with one credited mechanism removed (its declared ablation):
    same grid, seeds and test; read beside the claim in its verdict. Gathers the points
    the shard jobs ran, every stage's (a point no shard ran is run here); meta.json says
    what was reused."""
    input:
        shard_files,
        data_inputs,
    output:
        "data/{scale}/{claim}/ablation-{mechanism}/meta.json",
    wildcard_constraints:
        claim="|".join(SIMULATED),
        mechanism="|".join(MECHANISMS),
    params:
        section=section_hash,
        code=CODE,
    threads: 1
    resources:
        mem_mb=sim_mem,
        runtime=sim_runtime,
    log:
        "logs/{scale}/ablate_{claim}_{mechanism}.log",
    benchmark:
        "logs/{scale}/bench/simulate_ablation/{claim}_{mechanism}.tsv"
    conda:
        "../envs/clipasgd.yaml"
    shell:
        logged_shell('"$CLIPASGD_PY" -m clipasgd.pipeline simulate {wildcards.claim:q}'
                     ' --scale {wildcards.scale:q} --config "$CLIPASGD_CONFIG"'
                     ' --ablate {wildcards.mechanism:q}')


rule verdict:
    """Compute a claim's verdict from its data and its ablations' (no simulation here)."""
    input:
        verdict_inputs,
    output:
        "data/{scale}/claims/{claim}.json",
    params:
        section=section_hash,
        code=CODE,
        words=lambda w: words_hash(w.claim),
        tables=merged_tables,
    wildcard_constraints:
        claim="|".join(CLAIMS),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=30,
    log:
        "logs/{scale}/verdict_{claim}.log",
    benchmark:
        "logs/{scale}/bench/verdict/{claim}.tsv"
    conda:
        "../envs/clipasgd.yaml"
    shell:
        logged_shell('"$CLIPASGD_PY" -m clipasgd.pipeline verdict {wildcards.claim:q}'
                     ' --scale {wildcards.scale:q} --config "$CLIPASGD_CONFIG"')


rule notebook:
    """Execute the claim's notebook with papermill (it draws the figures; a failed one is
    kept in the log folder); the HTML hides code inputs tagged hide-input and the
    parameters cells."""
    input:
        nb="notebooks/{claim}.ipynb",
        verdict="data/{scale}/claims/{claim}.json",
    output:
        ipynb="notebooks/executed/{scale}/{claim}.ipynb",
        html="notebooks/executed/{scale}/{claim}.html",
        pdf="figures/{scale}/{claim}.pdf",
        png=report("figures/{scale}/{claim}.png", caption="../report/figure.rst",
                   category="Claims", subcategory="{scale} scale", labels=figure_labels),
    params:
        plots=PLOTS,
        paper_ref=paper_ref,
    wildcard_constraints:
        claim="|".join(CLAIMS),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=15,
    log:
        txt="logs/{scale}/notebook_{claim}.log",
        nb="logs/{scale}/notebook_{claim}.ipynb",
    benchmark:
        "logs/{scale}/bench/notebook/{claim}.tsv"
    conda:
        "../envs/clipasgd.yaml"
    shell:
        logged_shell('"$CLIPASGD_PY" -m papermill {input.nb:q} {log.nb:q} -k python3'
                     ' -p scale {wildcards.scale:q} --cwd . -p root .'
                     ' && cp {log.nb:q} {output.ipynb:q}'
                     ' && "$CLIPASGD_PY" -m jupyter nbconvert --to html --log-level WARN'
                     " --TagRemovePreprocessor.enabled=True"
                     " --TagRemovePreprocessor.remove_input_tags=hide-input"
                     " --TagRemovePreprocessor.remove_cell_tags=parameters"
                     " --TagRemovePreprocessor.remove_cell_tags=injected-parameters"
                     ' {output.ipynb:q} --output-dir notebooks/executed/{wildcards.scale:q}',
                     log="log.txt")


rule summary:
    """Every verdict in one table, the landing page and the tidy table of all runs."""
    input:
        verdicts=expand("data/{{scale}}/claims/{claim}.json", claim=CLAIMS),
        figures=expand("figures/{{scale}}/{claim}.png", claim=CLAIMS),
    output:
        json="data/{scale}/summary.json",
        md="data/{scale}/summary.md",
        html="data/{scale}/index.html",
        runs="data/{scale}/runs.csv",
    params:
        claims=" ".join(CLAIMS),
        plots=PLOTS,
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    log:
        "logs/{scale}/summary.log",
    benchmark:
        "logs/{scale}/bench/summary/summary.tsv"
    conda:
        "../envs/clipasgd.yaml"
    shell:
        logged_shell('"$CLIPASGD_PY" -m clipasgd.pipeline summary --scale {wildcards.scale:q}'
                     ' --config "$CLIPASGD_CONFIG" --claims {params.claims}')


rule assess_rule:
    """A user's rule through every assessable claim's design (clipasgd assess), one job:
    `snakemake assess --config assess=examples/my_rules.py:normalised_sgd`."""
    input:
        lambda w: [config["assess"].rsplit(":", 1)[0]]
        if config["assess"].rsplit(":", 1)[0].endswith(".py") else [],
    output:
        "assess/{name}/data/{scale}/assess.md",
    params:
        rule=lambda w: config["assess"],
        code=CODE,
    wildcard_constraints:
        name=r"[A-Za-z_][A-Za-z0-9_]*",
        scale="|".join(config["scales"]),
    threads: 1
    resources:
        mem_mb=3000,
        runtime=720,
    log:
        "logs/{scale}/assess_{name}.log",
    benchmark:
        "logs/{scale}/bench/assess_rule/{name}.tsv"
    conda:
        "../envs/clipasgd.yaml"
    shell:
        logged_shell('"$CLIPASGD_PY" -m clipasgd.cli assess {params.rule:q} --scale'
                     ' {wildcards.scale:q} --config "$CLIPASGD_CONFIG" --out assess')


if config.get("assess"):

    rule assess:
        """`snakemake assess --config assess=<file.py:builder>` (scale from the config)."""
        input:
            f"assess/{config['assess'].rsplit(':', 1)[1]}/data/{SCALE}/assess.md",


# One target per claim, generated from the registry: `snakemake claim_<id>`
# (add --config scale=paper for full size).
for _claim in CLAIMS:
    rule:
        name: f"claim_{_claim}"
        input: claim_outputs(_claim)
