"""Two training steps of the real net, data-parallel over the processes.

Run by ``tests/test_distributed.py`` under torchrun with 2 gloo processes:
builds the net ``C2BINClusterer.fit`` would build (SGD, no augmentation, so
that the test can replay the steps), trains one epoch of two global batches
with ``C2BINNet.train_epochs(..., distributed=context)`` and saves, per step,
the rows this process stepped on, the gradients after DDP's averaging, the
loss values and the weights after the step, plus the final state, to
``<out>/rank<r>.pt``.
"""

import sys

import numpy as np
import torch
from skorch.callbacks import Callback

#: 32 samples, global batch 16: two steps per epoch.
N_SAMPLES, BATCH, N_FEATURES, N_CLUSTERS = 32, 16, 5, (3, 4)
ESTIMATOR = dict(n_clusters=N_CLUSTERS, n_init=2, hidden_size=12, representation_size=8, projection_size=6,
                 optimizer="sgd", lr=0.05, weight_decay=0.0, augmentation="none", max_epochs=1,
                 batch_size=BATCH, device="cpu", random_state=0)


class Recorder(Callback):
    """What each training step did, in this process."""

    def initialize(self):
        self.steps_ = []
        return self

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if training:
            self.steps_.append({"rows": batch[0].clone()})

    def on_grad_computed(self, net, named_parameters, **kwargs):
        self.steps_[-1]["grads"] = {n: p.grad.clone() for n, p in named_parameters}

    def on_batch_end(self, net, training=False, losses=None, **kwargs):
        if training:
            self.steps_[-1]["losses"] = losses.clone()
            self.steps_[-1]["weights"] = {n: p.detach().clone() for n, p in net.module_.named_parameters()}


def data():
    return np.random.RandomState(0).randn(N_SAMPLES, N_FEATURES).astype(np.float32)


def build(callbacks=None):
    """``(net, X as a tensor, augment)`` as ``C2BINClusterer(**ESTIMATOR).fit`` builds them."""
    from skc2bin import C2BINClusterer
    from skc2bin.augment import resolve_augmentation
    from skc2bin.networks import build_network
    from skc2bin.preprocessing import fit_preprocessor
    from skc2bin.training import make_net

    est = C2BINClusterer(**ESTIMATOR, callbacks=callbacks)
    Xt, spec = est._checked_data(data(), reset=True)
    params = est.get_params(deep=False)
    network = build_network(params, spec.sample_shape, N_CLUSTERS, fit_preprocessor(Xt, spec.layout, spec.sample_shape), 0)
    net = make_net(network, params, batch_size=BATCH, total_steps=N_SAMPLES // BATCH, device="cpu",
                   channels_last=False, seed=0)
    return net, Xt, resolve_augmentation("none", spec.sample_shape)


def main(out):
    from skc2bin.training.distributed import distributed_context

    context = distributed_context(True, "cpu")
    net, Xt, augment = build(callbacks=[Recorder()])
    net.train_epochs(Xt, 1, augment, distributed=context)
    recorder = next(cb for name, cb in net.callbacks_ if isinstance(cb, Recorder))
    torch.save({
        "steps": recorder.steps_,
        "history": [{k: v for k, v in epoch.items() if k != "dur"} for epoch in net.history],
        "module": {k: v.clone() for k, v in net.module_.state_dict().items()},
        "target": {k: v.clone() for k, v in net.target_.state_dict().items()},
        "rng_states": net.rng_states_,
    }, f"{out}/rank{context.rank}.pt")


if __name__ == "__main__":
    main(sys.argv[1])
