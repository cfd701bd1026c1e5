"""Figure 4 analogue: in the federated setting (Algorithm 2, label-skewed shards), Clipped
ASGD reaches a target test accuracy sooner than ASGD.

Paper: CIFAR-10 split by Dirichlet(0.5) label skew over 16 workers, two-layer CNN, target
70%, D in {4, 8}, clip radius grid {0.5, 1, 2, 4}. Here: the Fashion-MNIST MLP on the
same kind of split (each worker samples only its own shard), the target pre-registered
from a synchronous-SGD calibration. An analogue, not a replication.
Protocol: :mod:`clipasgd.claims._speedup`.
"""

from __future__ import annotations

from ._speedup import ARMS, CONTRAST, DESIGN, verdict
from .base import Claim

CLAIM = Claim(id="fig4_federated", paper_ref="Figure 4", reading=verdict, design=DESIGN, arms=ARMS,
              credits=("clipping",), unablated=CONTRAST)
