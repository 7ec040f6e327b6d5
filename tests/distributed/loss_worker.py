"""One C2BIN loss and backward pass per process, through DDP and the gather.

Run by ``tests/test_distributed.py`` under torchrun with 2 gloo processes: each
process takes its shard of a global batch, runs the online network's two-view
pass through DistributedDataParallel, computes the loss with the cluster terms
on the gathered assignments, and saves the loss parts and the (DDP-averaged)
gradients to ``<out>/rank<r>.pt``. The test compares them with one process
holding the whole batch.
"""

import sys

import torch

#: Samples per process, features, clusters per scale, heads per scale.
LOCAL_BATCH, N_FEATURES, N_CLUSTERS, N_INIT = 8, 5, (3, 4), 2
PARAMS = dict(backbone="mlp", representation_size=8, projection_size=6, hidden_size=12, n_init=N_INIT)


def network():
    """The online and target networks (same weights in every process)."""
    from skc2bin.networks import TargetNetwork, build_network
    from skc2bin.preprocessing import Preprocessor

    online = build_network(PARAMS, (N_FEATURES,), N_CLUSTERS, Preprocessor("vector", (N_FEATURES,)), seed=0)
    return online, TargetNetwork.from_online(online)


def views(world_size):
    """Two views of the global batch (``world_size * LOCAL_BATCH`` samples)."""
    g = torch.Generator().manual_seed(1)
    n = world_size * LOCAL_BATCH
    return torch.randn(n, N_FEATURES, generator=g), torch.randn(n, N_FEATURES, generator=g)


def loss_parts(online, target, view1, view2, forward, gather=None):
    """The total loss and its parts (the criterion's), after the backward pass."""
    from skc2bin.losses import C2BINCriterion

    (p1, a1), (p2, a2) = forward(view1, view2)
    with torch.no_grad():
        t1, t2 = target(view1), target(view2)
    loss, parts = C2BINCriterion(temperature=0.5)(p1, p2, t1, t2, a1, a2, gather=gather)
    loss.backward()
    return loss.detach(), parts


def main(out):
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    from skc2bin.networks import TwoViewForward
    from skc2bin.training.distributed import gather_rows

    if not dist.is_initialized():
        dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    online, target = network()
    view1, view2 = views(world)
    rows = slice(rank * LOCAL_BATCH, (rank + 1) * LOCAL_BATCH)
    ddp = DistributedDataParallel(TwoViewForward(online))
    loss, parts = loss_parts(online, target, view1[rows], view2[rows], ddp, gather=gather_rows)
    torch.save({"loss": loss, "parts": parts,
                "grads": {name: p.grad.clone() for name, p in online.named_parameters()}},
               f"{out}/rank{rank}.pt")


if __name__ == "__main__":
    main(sys.argv[1])
    torch.distributed.destroy_process_group()
