"""An ablation's runs that equal the claim's (unchanged arms; Clipped ASGD with clipping
ablated is vanilla ASGD at the same step and seeds) are reused, not simulated again, and
the reused ablation's tables are byte for byte those of simulating it alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from clipasgd.claims import get_claim
from clipasgd.experiment import run_experiment, run_key, shared_runs
from clipasgd.pipeline import needed_ablations, reuse_summary
from clipasgd.provenance import read_stamp
from clipasgd.runner import Shard, Variant, ablated, run_claim, run_variants

SPEC = {"name": "tiny", "seed": 3, "replications": 4, "horizon": 200,
        "problem": {"name": "quadratic", "dim": 3}, "noise": {"name": "gaussian", "sigma": 1.0},
        "workers": {"n": 4, "D": 8, "stragglers": 1},
        "scheduler": "algorithm1", "eps": [0.5],
        "algorithms": [{"name": "clipped_asgd", "label": "clipped", "eta": 0.05, "c": 1.0},
                       {"name": "asgd", "label": "vanilla", "eta": 0.05}]}


def _frames(res) -> dict:
    return {w: res.frame(w).to_csv(index=False) for w in ("checkpoints", "hits", "reps")}


def test_a_run_equal_to_one_made_before_in_the_block_is_reused() -> None:
    unclipped = {**SPEC, "algorithms": [{"name": "asgd", "label": "clipped", "eta": 0.05},
                                        SPEC["algorithms"][1]]}
    alone = _frames(run_experiment(unclipped, lambda _: None))
    with shared_runs("claim") as memo:
        run_experiment(SPEC, lambda _: None)
        memo.owner = "ablation"
        shared = run_experiment(unclipped, lambda _: None)
    assert _frames(shared) == alone  # every byte of every table
    assert memo.take() == [
        {"label": "clipped", "owner": "ablation", "from_label": "vanilla", "from_owner": "claim"},
        {"label": "vanilla", "owner": "ablation", "from_label": "vanilla", "from_owner": "claim"}]
    # the key ignores labels and other algorithms, not parameters or seeds
    a, b = SPEC["algorithms"]
    assert run_key(SPEC, {**b, "label": "x"}) == run_key({**SPEC, "name": "y"}, b)
    assert run_key(SPEC, b) != run_key({**SPEC, "seed": 4}, b)
    assert run_key(SPEC, b) != run_key(SPEC, {**b, "eta": 0.06})


def _tables(folder: Path) -> dict[str, bytes]:
    """Every table's bytes, the parts' included; not high_prob's ``timing`` (wall seconds,
    which differ between any two runs)."""
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*.csv")) if not p.stem.endswith("timing")}


@pytest.mark.parametrize("claim", ["tau_max", "high_prob", "fig2_speedup"])
def test_a_reused_ablation_equals_the_ablation_simulated_alone(claim, claim_cfg, tmp_path
                                                               ) -> None:
    info = get_claim(claim)
    cfg = claim_cfg(claim, "smoke")
    acfg, arms = ablated(info, cfg, "clipping")
    assert needed_ablations(claim) == ["clipping"]
    quiet = lambda _: None  # noqa: E731
    shared, alone = tmp_path / "shared", tmp_path / "alone"
    variants = [Variant(cfg, shared, progress=quiet),
                Variant(acfg, shared / "ablation-clipping", arms, "without-clipping", quiet)]
    for k in range(2):  # two shard jobs, then the gathers
        run_variants(info, variants, Shard(k, 2))
    run_claim(info, cfg, shared, progress=quiet)
    run_claim(info, acfg, shared / "ablation-clipping", arms=arms, variant="without-clipping",
              progress=quiet)
    run_claim(info, acfg, alone, arms=arms, variant="without-clipping", progress=quiet)
    assert _tables(shared / "ablation-clipping") == _tables(alone)
    summary = reuse_summary(shared / "ablation-clipping")
    n = summary["points"]
    if claim == "fig2_speedup":  # a point per arm: the unchanged arms' points reused whole
        # (the ablation drops Vanilla and the controls; its points read only the run keys),
        # and the unclipped arm's points are the claim's Vanilla points, relabelled
        assert summary["runs_reused"] == {a: {f"{claim}:{a}": 2}
                                          for a in ("delay_adaptive", "ringmaster")} | {
            "clipped": {f"{claim}:vanilla": 2}}
        assert summary["points_reusing"] == n == 6  # the ablation simulates nothing
        return
    # the clipped arm ablated is the claim's vanilla run: tau_max's ablation simulates
    # nothing; high_prob's heavy-repeat point runs the clipped arm alone (new seeds)
    assert summary["points_reusing"] == n - (claim == "high_prob")
    assert set(summary["runs_reused"]["clipped"]) == {f"{claim}:vanilla"}
    if claim == "tau_max":
        assert summary["runs_reused"]["clipped"] == {"tau_max:vanilla": n}
        assert set(summary["runs_reused"]) == {a.label for a in info.arms}
    assert reuse_summary(alone)["runs_reused"].get("clipped") is None
    stamp, _ = read_stamp(next((alone / "parts").glob("*.done.json")), ())
    assert {r["label"] for r in stamp["reused"]} == {"vanilla"}  # equal arms inside a run


def test_a_point_meets_the_claim_point_of_the_same_run_before_the_same_key() -> None:
    from clipasgd.runner import _slots

    claim = [{"key": k} for k in ("clipped", "vanilla", "other")]
    ablation = [{"key": k} for k in ("clipped", "other", "new")]  # clipped: now unclipped
    first, other = _slots([claim, ablation], [["h-c", "h-v", "h-o"], ["h-v", "h-x", "h-n"]])
    assert first == {0: [0], 1: [1], 2: [2]}
    # unclipped "clipped" goes where the claim's vanilla run is; "other" (another run now)
    # falls back to its key's slot; "new" to its own index
    assert other == {1: [0], 2: [1, 2]}


@pytest.mark.parametrize("claim", ["fig2_speedup", "delay_sweep"])
def test_the_unclipped_arm_is_the_vanilla_run_and_nothing_else(claim, claim_cfg) -> None:
    """The run identity: Clipped ASGD with clipping ablated equals Vanilla ASGD at the same
    step, D and seed, and no other point (another step, seed, D or phase, or clipped)."""
    from clipasgd.claims.base import Run

    info = get_claim(claim)
    cfg = claim_cfg(claim, "smoke")
    acfg, arms = ablated(info, cfg, "clipping")
    ident = info.design.run_identity
    ours, theirs = Run(cfg, info.arms, lambda _: None), Run(acfg, arms, lambda _: None)
    base = {"key": "k", "phase": "fresh", "seed_index": 3, "D": 4.0, "eta": 0.0625,
            "c": 1.0, "max_delay": 0} | ({"problem_name": "fig2"} if claim == "delay_sweep"
                                         else {})
    clipped, vanilla = {**base, "algorithm": "clipped"}, {**base, "algorithm": "vanilla",
                                                          "c": float("nan")}
    label, unclipped = ident(theirs, clipped)
    assert label == "clipped" and unclipped == ident(ours, vanilla)[1]
    assert unclipped != ident(ours, clipped)[1]  # clipping on: another run
    for change in ({"eta": 0.125}, {"seed_index": 4}, {"D": 8.0}, {"phase": "select"}):
        assert ident(theirs, {**clipped, **change})[1] != ident(ours, vanilla)[1], change


def test_an_ablation_point_meets_the_claim_point_of_the_same_key() -> None:
    from clipasgd.runner import _slots

    claim = [{"key": k} for k in ("a", "b", "c", "d")]
    ablation = [{"key": k} for k in ("c", "x", "a")]  # shorter, reordered, one new point
    first, other = _slots([claim, ablation])
    assert first == {0: [0], 1: [1], 2: [2], 3: [3]}
    assert other == {2: [0], 1: [1], 0: [2]}  # "x" at its own index; every point has a slot


@pytest.mark.parametrize("claim", ["fig2_speedup", "delay_sweep"])
def test_later_stage_shards_make_the_tables_of_one_unsharded_run(claim, claim_cfg, tmp_path
                                                                 ) -> None:
    """The first grid's shards, then the later stage's shards (claim and ablation, a point
    they share run once), then the gathers: every table byte for byte that of running
    each variant alone, and the gathers simulate nothing (every part's stamp predates
    them)."""
    from clipasgd.runner import later_stages

    info = get_claim(claim)
    assert later_stages(info) == ["fresh"]
    cfg = {**claim_cfg(claim, "smoke"), "clip": [1.0, 2.0]}  # a radius to tune: a select grid
    if claim == "fig2_speedup":  # and two steps: the ablation tunes too
        cfg["lrs"] = [0.03125, 0.0625]
    acfg, arms = ablated(info, cfg, "clipping")
    quiet = lambda _: None  # noqa: E731
    shared, alone = tmp_path / "shared", tmp_path / "alone"
    variants = [Variant(cfg, shared, progress=quiet),
                Variant(acfg, shared / "ablation-clipping", arms, "without-clipping", quiet)]
    for stage in (None, "fresh"):
        done = [run_variants(info, variants, Shard(k, 3, stage)) for k in range(3)]
        name = "select" if stage is None else "fresh"
        # the claim's (delay_sweep's ablation tunes nothing at smoke: its fresh stage is
        # its first grid, run beside the claim's select points)
        assert {d[0].stage for d in done} == {name}
        assert sum(d[0].points for d in done) == done[0][0].of > 0  # the shards cover it
    stamps = {p: p.stat().st_mtime_ns for p in shared.rglob("*.done.json")}
    run_claim(info, cfg, shared, progress=quiet)
    run_claim(info, acfg, shared / "ablation-clipping", arms=arms, variant="without-clipping",
              progress=quiet)
    assert {p: p.stat().st_mtime_ns for p in shared.rglob("*.done.json")} == stamps
    run_claim(info, cfg, alone / "claim", progress=quiet)
    run_claim(info, acfg, alone / "ablation", arms=arms, variant="without-clipping",
              progress=quiet)
    assert _tables(shared / "ablation-clipping") == _tables(alone / "ablation")
    ours = {k: v for k, v in _tables(shared).items() if not k.startswith("ablation-")}
    assert ours == _tables(alone / "claim")
    if claim == "fig2_speedup":  # the baselines' points, select and fresh, are the claim's
        fresh = [p for p in (shared / "ablation-clipping" / "parts").glob("fresh-*.done.json")
                 if read_stamp(p, ())[0].get("reused")]
        assert {p.name.split("-")[2] for p in fresh} == {"clipped", "delay_adaptive",
                                                           "ringmaster"}
    # every point of the ablation reused: its unclipped arm is the claim's Vanilla arm
    summary = reuse_summary(shared / "ablation-clipping")
    assert summary["points_reusing"] == summary["points"] > 0
    assert summary["runs_reused"]["clipped"] == {f"{claim}:vanilla": sum(
        read_stamp(p, ())[0]["reused"][0]["label"] == "clipped"
        for p in (shared / "ablation-clipping" / "parts").glob("*.done.json"))}


def test_a_stage_shard_names_a_later_stage(claim_cfg, tmp_path) -> None:
    info, cfg = get_claim("fig2_speedup"), claim_cfg("fig2_speedup", "smoke")
    with pytest.raises(ValueError, match="no later stage 'select'"):
        run_claim(info, cfg, tmp_path, shard=Shard(0, 2, "select"))
    # smoke tunes nothing: no select points, the fresh stage is the first grid (the
    # first-grid shards run it) and its stage shards have nothing to do
    assert run_claim(info, cfg, tmp_path, shard=Shard(0, 2, "fresh")).points == 0
    assert not (tmp_path / "parts").exists()


@pytest.mark.parametrize("claim", ["fig2_speedup", "fig3_speedup", "fig4_federated",
                                   "delay_sweep"])
@pytest.mark.parametrize("scale", ["smoke", "quick", "paper"])
def test_a_run_identity_names_the_spec_its_run_builds(claim, scale, claim_cfg, monkeypatch
                                                      ) -> None:
    """``run_identity`` mirrors ``_run``: for every first-grid point of the claim and of
    its ablation (fig4_federated's built by hand: it declares none) the identity's spec is
    the spec ``_run`` builds its rule from (the simulation itself stubbed out)."""
    import pandas as pd

    from clipasgd.claims import _speedup
    from clipasgd.claims.base import Run, unclip_claim_arms
    from clipasgd.compute_times import make_compute_times
    from clipasgd.runner import plan

    def stub(problem, cfg, D, s, build, ss):
        build(make_compute_times({**cfg["workers"], "D": D}).n)
        return pd.DataFrame()

    monkeypatch.setattr(_speedup, "run_one", stub)
    monkeypatch.setattr(_speedup, "_problem", lambda spec: None)
    info = get_claim(claim)
    cfg = claim_cfg(claim, scale)
    variants = [(cfg, info.arms)]
    variants.append(ablated(info, cfg, "clipping") if info.ablations else
                    (_speedup._without_clipping(cfg), unclip_claim_arms(info.arms)))
    checked = 0
    for vcfg, arms in variants:
        for point in plan(info, vcfg, arms):
            run = Run(vcfg, arms, lambda _: None, seen=[])
            label, ident = info.design.run_identity(run, point)
            info.design.stages[0].run(run, point, 0)
            (built, at), = run.seen
            spec = {k: v for k, v in run.arm(built).spec(at).items() if k != "label"}
            assert (built, spec) == (label, ident["spec"]), point["key"]
            checked += 1
    assert checked > 0


def test_an_ablation_reuses_the_claims_points_read_from_their_parts(claim_cfg, tmp_path
                                                                    ) -> None:
    """A shard job restarted after the claim's points were written (a killed job, a rerun)
    reuses them from their parts by run identity: the same tables as the ablation alone."""
    info = get_claim("fig2_speedup")
    cfg = {**claim_cfg("fig2_speedup", "smoke"), "clip": [1.0, 2.0],
           "lrs": [0.03125, 0.0625]}
    acfg, arms = ablated(info, cfg, "clipping")
    quiet = lambda _: None  # noqa: E731
    shared, alone = tmp_path / "shared", tmp_path / "alone"
    run_claim(info, cfg, shared, progress=quiet)  # every claim point on disk first
    variants = [Variant(cfg, shared, progress=quiet),
                Variant(acfg, shared / "ablation-clipping", arms, "without-clipping", quiet)]
    for stage in (None, "fresh"):
        run_variants(info, variants, Shard(0, 1, stage))
    run_claim(info, acfg, shared / "ablation-clipping", arms=arms, variant="without-clipping",
              progress=quiet)
    run_claim(info, acfg, alone, arms=arms, variant="without-clipping", progress=quiet)
    assert _tables(shared / "ablation-clipping") == _tables(alone)
    summary = reuse_summary(shared / "ablation-clipping")
    assert summary["points_reusing"] == summary["points"] > 0
    assert set(summary["runs_reused"]) == {"clipped", "delay_adaptive", "ringmaster"}
