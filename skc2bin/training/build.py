"""Assembling the skorch net from the estimator's parameters.

One module-level builder, used by the estimator's ``fit`` and by
:func:`skc2bin.persistence.load_model` alike, so both build the same net
from the same parameters.
"""

import copy

import torch

from ..data import BatchIterator
from ..losses import C2BINCriterion
from .net import C2BINNet

__all__ = ["OPTIMIZERS", "make_net", "plan_batch_size", "resolve_precision"]

#: Optimizers named by the estimator's ``optimizer`` parameter.
OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}


def plan_batch_size(batch_size, n_samples, world_size=1):
    """Samples per optimizer step (the global batch) for ``n_samples`` training samples.

    ``'auto'`` uses 128, lowered for small data sets to ``n_samples // 8``
    (at least 16) so that every epoch still takes several optimizer steps;
    any batch size is capped at ``n_samples``. In data-parallel training
    over ``world_size`` processes each process steps on ``batch / world_size``
    samples: an explicit ``batch_size`` must be divisible by ``world_size``,
    and the planned batch is rounded down to a multiple of it (at least 2
    samples per process, for BatchNorm).

    Examples
    --------
    >>> from skc2bin.training import plan_batch_size
    >>> plan_batch_size("auto", 1797), plan_batch_size("auto", 300), plan_batch_size(64, 40)
    (128, 37, 40)
    >>> plan_batch_size("auto", 300, world_size=4), plan_batch_size(64, 40, world_size=8)
    (36, 40)
    """
    world = int(world_size)
    if batch_size == "auto":
        batch = min(128, max(16, n_samples // 8), n_samples)
    else:
        if int(batch_size) % world:
            raise ValueError(
                f"batch_size={batch_size} is the global batch of a data-parallel fit over {world} "
                f"processes and must be divisible by {world}, so that every process steps on the same "
                f"number of samples. Use a multiple of {world}, e.g. batch_size={int(batch_size) // world * world or world}."
            )
        batch = min(int(batch_size), n_samples)
    if world > 1:
        batch -= batch % world
        if batch < 2 * world:
            raise ValueError(
                f"A data-parallel fit over {world} processes needs at least {2 * world} samples per "
                f"batch (2 per process, for BatchNorm); it got {n_samples} samples and batch_size="
                f"{batch_size!r}. Pass more samples, a larger batch_size, or train with fewer processes."
            )
    return batch


def resolve_precision(precision, device):
    """``'auto'`` -> ``'bfloat16'`` on a CUDA GPU that supports it, else ``'float32'``."""
    if precision != "auto":
        return precision
    cuda = torch.device(device).type == "cuda"
    return "bfloat16" if cuda and torch.cuda.is_bf16_supported() else "float32"


def _optimizer_kwargs(params):
    optimizer = OPTIMIZERS.get(params["optimizer"], params["optimizer"])
    kwargs = {"optimizer": optimizer, "lr": params["lr"], "optimizer__weight_decay": params["weight_decay"]}
    if optimizer is torch.optim.SGD:
        kwargs["optimizer__momentum"] = 0.9
    return kwargs


def _user_callbacks(callbacks):
    """The user's callbacks, copied (one fit never alters the parameter), named."""
    named = []
    for i, cb in enumerate(copy.deepcopy(callbacks or [])):
        named.append(cb if isinstance(cb, tuple) else (f"user_{i}_{type(cb).__name__}", cb))
    return named


def make_net(network, params, *, batch_size, total_steps, device, channels_last, seed):
    """The skorch net that trains ``network`` as ``params`` say, initialised.

    Parameters
    ----------
    network : C2BINNetwork
        The online network (see :func:`skc2bin.networks.build_network`).
    params : dict
        The estimator's parameters (``get_params(deep=False)``).
    batch_size : int
        Samples per optimizer step (see :func:`plan_batch_size`).
    total_steps : int
        Optimizer steps the EMA and learning-rate schedules span.
    device : str
        Training device.
    channels_last : bool
        Channels-last memory layout (image models).
    seed : int
        Seeds the shuffling and augmentation streams.

    Returns
    -------
    net : C2BINNet
        Initialised: the target network exists and equals the online one.
    """
    net = C2BINNet(
        module=network,
        criterion=C2BINCriterion,
        criterion__temperature=params["cluster_temperature"],
        criterion__cluster_weight=params["cluster_weight"],
        criterion__entropy_weight=params["entropy_weight"],
        **_optimizer_kwargs(params),
        max_epochs=params["max_epochs"],
        batch_size=batch_size,
        iterator_train=BatchIterator,
        iterator_train__shuffle=True,
        iterator_train__drop_last=True,
        iterator_valid=BatchIterator,
        train_split=None,
        callbacks=_user_callbacks(params["callbacks"]),
        device=device,
        verbose=int(params["verbose"]),
        base_momentum=params["base_momentum"],
        total_steps=total_steps,
        lr_schedule=params["lr_schedule"],
        seed=seed,
        precision=resolve_precision(params["precision"], device),
        # Channels-last convolutions: faster on GPUs (tensor cores) and,
        # measured here, on CPUs too (benchmarks/throughput.py).
        channels_last=channels_last,
        compile_views=params["compile"],
    )
    return net.initialize()
