"""Schedules over the optimizer steps of a fit: the learning rate and the
target network's EMA momentum.

Both are pure functions of the step count (classes where a fitted net must
pickle them), so continued training only has to extend ``total_steps``.
"""

import math

__all__ = ["cosine_momentum", "WarmupCosine"]


def cosine_momentum(step, total_steps, base_momentum):
    """BYOL's momentum schedule.

    ``tau = 1 - (1 - base) * (cos(pi * step / total) + 1) / 2``: ``base`` at
    step 0, rising towards 1 (reached at ``step == total``).

    Parameters
    ----------
    step : int
        Optimizer steps taken so far (0-based).
    total_steps : int
        Steps in the whole fit; ``step`` is clipped to it.
    base_momentum : float in [0, 1]

    Returns
    -------
    tau : float
    """
    if total_steps <= 0:
        return 1.0
    progress = min(max(step, 0), total_steps) / total_steps
    return 1.0 - (1.0 - base_momentum) * (math.cos(math.pi * progress) + 1.0) / 2.0


class WarmupCosine:
    """Learning-rate factor: linear warm-up, then cosine decay to zero.

    ``factor(step) = (step + 1) / warmup`` for the first ``warmup`` steps,
    then ``(1 + cos(pi * progress)) / 2`` over the remaining steps. A class
    (not a closure) so that a fitted net stays picklable.

    Parameters
    ----------
    total_steps : int
    warmup_fraction : float, default=0.05
    """

    def __init__(self, total_steps, warmup_fraction=0.05):
        self.total_steps = max(int(total_steps), 1)
        self.warmup = max(1, int(round(warmup_fraction * self.total_steps)))

    def __call__(self, step):
        if step < self.warmup:
            return (step + 1) / self.warmup
        progress = min(1.0, (step - self.warmup) / max(1, self.total_steps - self.warmup))
        return 0.5 * (1.0 + math.cos(math.pi * progress))
