"""Does the credited mechanism act? Known answers for the facts a verdict file records."""

from __future__ import annotations

import pandas as pd
import pytest

from clipasgd.claims import REGISTRY, base
from clipasgd.mechanism import ablation_outcome, conditions_broken, fraction_clipped
from clipasgd.runner import ablated, replace_arms


def test_a_supported_claim_whose_ablation_is_supported_holds_without_it() -> None:
    assert ablation_outcome("supported", {"clipping": {"verdict": "supported"}}) == \
        "holds without clipping"
    assert ablation_outcome("supported", {"clipping": {"verdict": "refuted"},
                                          "step_rule": {"verdict": "inconclusive"}}) == \
        "supported"
    assert ablation_outcome("refuted", {"clipping": {"verdict": "supported"}}) == "refuted"
    assert ablation_outcome("supported", {"algorithm2": {"run": False}}) == "supported"


def test_conditions_broken_reads_every_setting_and_skips_controls() -> None:
    row = {"value": 0.06, "bound": 0.003125, "holds": False}
    details = {"thetas": {"a": {"step_conditions": {"eta <= eps/(K c tau_C L)": row,
                                                    "c >= r": {"value": 1.0, "bound": 4.0,
                                                               "holds": False}}},
                          "b": {"step_conditions": {"eta <= eps/(K c tau_C L)": {
                              "value": 0.06, "bound": 0.006, "holds": False}}}},
               "sweep": {"fixed_step": {"eta <= 1/(K tau_C L)": row}}}
    out = conditions_broken(details)
    assert [(r["condition"], round(r["factor"], 2)) for r in out] == [
        ("eta <= eps/(K c tau_C L)", 19.2), ("c >= r", 4.0)]
    assert out[0]["where"] == "thetas.a.step_conditions"
    assert conditions_broken({"x": {"holds": True, "value": 1, "bound": 2}}) == []


def test_fraction_clipped_of_the_claim_arm(tmp_path) -> None:
    pd.DataFrame({"algorithm": ["clipped"] * 2 + ["vanilla"] * 2,
                  "clip_fraction": [0.1, 0.3, 0.0, 0.0]}).to_csv(tmp_path / "reps.csv",
                                                               index=False)
    pd.DataFrame({"x": [1]}).to_csv(tmp_path / "other.csv", index=False)
    assert fraction_clipped(tmp_path, ["clipped"]) == pytest.approx(0.2)
    assert fraction_clipped(tmp_path / "none", ["clipped"]) is None


def test_every_credited_mechanism_of_a_design_is_ablated_or_said_not_to_be() -> None:
    """Each claim with a design declares the ablation of each mechanism any claim reading
    its data credits, or says why none is run (its own comparison is that ablation): no
    credit without the run that could take it away."""
    for cid, claim in REGISTRY.items():
        source = REGISTRY[claim.source]
        for mech in claim.credits:
            why = (claim.unablated or {}).get(mech, "")
            assert (source.ablation(mech) is not None) != bool(why), \
                f"{cid} credits {mech}: {claim.source} must ablate it or say why not"
    assert "own comparison" in REGISTRY["fig4_federated"].unablated["clipping"]


def test_without_clipping_replaces_only_the_claim_arm() -> None:
    arms = (base.Arm("clipped", "clipped_asgd", lambda at: {"eta": at["eta"], "c": 1.0}),
            base.Arm("ctrl", "clipped_asgd", lambda at: {"eta": 1.0, "c": 2.0}, "control"))
    new = base.unclip_claim_arms(arms)
    assert new[0].algorithm == "asgd" and new[0].spec({"eta": 0.1}) == {
        "name": "asgd", "label": "clipped", "eta": 0.1}
    assert new[1] is arms[1]
    with pytest.raises(ValueError, match="no arm labelled"):
        replace_arms(arms, base.Arm("nope", "asgd", lambda at: {}))
    tau = REGISTRY["tau_max"]
    cfg, arms = ablated(tau, {"seed": 1}, "clipping")
    assert [a.algorithm for a in arms if a.label == "clipped"] == ["asgd"]
    with pytest.raises(ValueError, match="declares no ablation"):
        ablated(tau, {}, "algorithm2")


def test_the_figure_claims_fraction_clipped_is_clipped_asgds_alone(tmp_path) -> None:
    """Their baselines are references: a table of both arms gives Clipped ASGD's share, not
    the mean over every arm (the landing page read 41% where Clipped clipped 99%)."""
    import pandas as pd

    from clipasgd.claims import get_claim
    from clipasgd.mechanism import fraction_clipped

    pd.DataFrame({"algorithm": ["clipped", "vanilla", "delay_adaptive", "ringmaster"],
                  "clip_fraction": [0.99, 0.0, 0.0, 0.0]}).to_csv(tmp_path / "curves.csv",
                                                                   index=False)
    for claim in ("fig2_speedup", "fig3_speedup", "fig4_federated"):
        labels = [a.label for a in get_claim(claim).arms if a.role == "claim"]
        assert fraction_clipped(tmp_path, labels) == 0.99


def test_fraction_clipped_reads_only_the_claims_rows_of_a_shared_folder(tmp_path) -> None:
    """high_prob and high_prob_tail read one folder: sub-Weibull runs (``part`` noise), the
    Pareto runs (heavy) and seed-B repeats. Each claim's fraction is its own part's, not the
    pool's (which put 11.2% on both: 5.7% and 19.5% at quick)."""
    from clipasgd.claims import get_claim

    pd.DataFrame({"algorithm": ["clipped"] * 4 + ["vanilla"],
                  "part": ["noise", "noise", "heavy", "repeat", "noise"],
                  "clip_fraction": [0.05, 0.07, 0.20, 0.30, 0.0]}).to_csv(
        tmp_path / "runs.csv", index=False)
    pd.DataFrame({"algorithm": ["clipped"], "clip_fraction": [0.9]}).to_csv(
        tmp_path / "other.csv", index=False)  # no part column: no row of a part
    assert fraction_clipped(tmp_path, ["clipped"]) == pytest.approx(0.304)  # the pool
    for claim, want in (("high_prob", 0.06), ("high_prob_tail", 0.20)):
        rows = get_claim(claim).clip_rows
        assert fraction_clipped(tmp_path, ["clipped"], rows) == pytest.approx(want)
