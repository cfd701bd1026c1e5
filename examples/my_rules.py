"""Two update rules of your own, assessed with `clipasgd assess` (README, "Assess your own
rule"). A rule is a builder: keyword parameters typed int/float (here `eta`, and `c` for a
clipping radius), returning a transform composed from clipasgd.updates or your own class
with `init(x)` and `update(g, state, delay)`."""
from dataclasses import dataclass

import numpy as np

from clipasgd import updates
from clipasgd.algorithms import Positive


@dataclass(frozen=True)
class normalise(updates.Transform):  # g / ||g||, per replication
    def init(self, x):
        return None

    def update(self, g, state, delay):
        return g / np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-12), state


def normalised_sgd(eta: Positive) -> updates.Transform:
    """Normalised SGD: every update has length eta, whatever the gradient's size."""
    return updates.chain(normalise(), updates.scale(eta))


def clipped_momentum(eta: Positive, c: Positive) -> updates.Transform:
    """Heavy-ball momentum (beta = 0.5) on clipped gradients."""
    return updates.chain(updates.clip(c), updates.momentum(0.5), updates.scale(eta / 2))


def plain_sgd(eta: Positive) -> updates.Transform:
    """Constant-step SGD: stale gradients applied at full size (vanilla ASGD)."""
    return updates.scale(eta)
