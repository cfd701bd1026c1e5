"""Figure 2 analogue: Clipped ASGD reaches a target test accuracy sooner than Vanilla,
Delay-adaptive and Ringmaster ASGD when half the workers straggle (Algorithm 1).

Paper: ResNet-18 on CIFAR-10, target 80%, D = 4. Here: a numpy MLP 784-128-10 on
Fashion-MNIST (synthetic look-alike at smoke scale), 16 workers (8 take 1 time unit per
gradient, 8 take D), the target pre-registered from a synchronous-SGD calibration. An
analogue, not a replication. Protocol: :mod:`clipasgd.claims._speedup`.
"""

from __future__ import annotations

from ._speedup import ABLATION, ARMS, DESIGN, verdict
from .base import Claim

CLAIM = Claim(id="fig2_speedup", paper_ref="Figure 2", reading=verdict, design=DESIGN, arms=ARMS,
              credits=("clipping",), ablations=(ABLATION,))
