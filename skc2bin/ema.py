"""The target network's exponential moving average (BYOL): the in-place update
of a target module from an online one. Its momentum schedule is
:func:`skc2bin.schedules.cosine_momentum`.
"""

import torch

__all__ = ["ema_update"]


@torch.no_grad()
def ema_update(target, online, momentum, buffers="copy"):
    """Move ``target`` towards ``online``: ``xi <- tau xi + (1 - tau) theta``.

    Parameters are averaged. Buffers (BatchNorm running statistics) are
    copied from the online network by default, so the target normalises with
    the same statistics the online network has just seen; ``buffers='ema'``
    averages floating-point buffers like the parameters (integer counters are
    copied). Both gave identical labels (``benchmarks/tunables.py``): in training
    the target's BatchNorm uses batch statistics, so its buffers never enter the
    loss (``docs/method.md``).

    Parameters
    ----------
    target, online : torch.nn.Module
        Modules with the same architecture.
    momentum : float
        ``tau``; 1 leaves the target unchanged, 0 copies the online weights.
    buffers : {'copy', 'ema'}, default='copy'
    """
    if buffers not in ("copy", "ema"):
        raise ValueError(f"buffers must be 'copy' or 'ema', got {buffers!r}.")
    target_params = list(target.parameters())
    online_params = list(online.parameters())
    if len(target_params) != len(online_params):
        raise ValueError("target and online modules differ in structure.")
    if target_params:
        # One fused kernel for all tensors: lerp(xi, theta, 1 - tau).
        torch._foreach_lerp_(target_params, online_params, 1.0 - momentum)
    for t_buf, o_buf in zip(target.buffers(), online.buffers()):
        if buffers == "ema" and t_buf.is_floating_point():
            t_buf.lerp_(o_buf, 1.0 - momentum)
        else:
            t_buf.copy_(o_buf)
