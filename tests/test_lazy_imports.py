"""Job start-up stays cheap: importing the pipeline and one claim loads no other claim's
module and not scipy.stats (imported where a statistic or a noise law's exact
distribution is first used)."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import sys
import clipasgd.pipeline
from clipasgd.claims import get_claim
from clipasgd.pipeline import claim_config, load_config
cfg = load_config("config/config.yaml", claims=["tau_max"])
get_claim("tau_max")
loaded = sorted(m for m in sys.modules if m.startswith("clipasgd.claims.") and
                m not in ("clipasgd.claims.base", "clipasgd.claims.words"))
print(loaded, "scipy.stats" in sys.modules)
"""


def test_a_job_on_one_claim_imports_only_that_claim_and_not_scipy_stats(root) -> None:
    out = subprocess.run([sys.executable, "-c", CHECK], cwd=root, capture_output=True,
                         text=True, check=True).stdout.strip()
    assert out == "['clipasgd.claims.tau_max'] False"


def test_the_registry_and_the_statistics_still_load_on_use() -> None:
    from clipasgd import claims
    from clipasgd.noise import StudentT
    from clipasgd.stats import quantile_ci

    assert set(claims.REGISTRY) == set(claims.CLAIM_IDS)
    assert set(claims.SIMULATED) <= set(claims.CLAIM_IDS)
    assert 0.0 < StudentT(df=3.0, sigma=1.0).norm_dist().cdf(1.0) < 1.0
    assert quantile_ci(list(range(100)), 0.5, 0.95).ci.low < 50


FIGURE_JOB = """
import sys
import numpy as np
import clipasgd.pipeline
from clipasgd.claims import get_claim
from clipasgd.problems import make_problem
get_claim("fig2_speedup")
p = make_problem("fashion_mlp", source="synthetic", hidden=4, n_eval=60)
x = p.x0()[None, :]
p.evaluate(x)
p.minibatch_grad(x, np.random.default_rng(0), 8)
print(sorted(m for m in sys.modules if m.split(".")[0] == "scipy"))
"""


def test_a_figure_claims_job_imports_no_scipy(root) -> None:
    """The figure claims' shard jobs (32 of a quick run's 131 jobs, most of its CPU) need
    nothing of scipy: its optimizer (logistic f_star, brentq) and special functions load
    where first used, about 0.5 CPU-s less per process."""
    out = subprocess.run([sys.executable, "-c", FIGURE_JOB], cwd=root, capture_output=True,
                         text=True, check=True).stdout.strip()
    assert out == "[]"


def test_a_lazy_module_keeps_what_it_read() -> None:
    """The first read imports and keeps the attribute: later reads skip the import lookup."""
    import math

    from clipasgd.lazy import LazyModule

    lazy = LazyModule("math")
    assert "sqrt" not in vars(lazy)
    assert lazy.sqrt is math.sqrt and vars(lazy)["sqrt"] is math.sqrt
