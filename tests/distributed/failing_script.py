"""Distributed fits that fail in one process: the others must stop too, soon.

``python -m torch.distributed.run --standalone --nproc_per_node 2 failing_script.py MODE OUT``

* ``different-data``: process 1 passes one sample fewer; both processes must
  raise an error that says the data differ, before training.
* ``bad-data``: process 1's data hold a NaN, so its input check fails; it
  stays alive (as a script that catches the error might), and process 0 must
  raise an error naming process 1 and its error, before training.
* ``rank-fails``: process 1 fails in its third training step and its script
  ends with the error; process 0 must not go on waiting.
Each process writes the seconds it spent in ``fit`` and what it raised to
``<OUT>/rank<RANK>.txt``.
"""

import os
import sys
import time

import numpy as np
from skorch.callbacks import Callback

from skc2bin import C2BINClusterer


class FailOnRank1(Callback):
    def on_batch_begin(self, net, training=False, **kwargs):
        if training and os.environ["RANK"] == "1" and len(net.history[-1]["batches"]) == 3:
            raise RuntimeError("process 1 fails on purpose")


mode, out = sys.argv[1], sys.argv[2]
rank = os.environ["RANK"]
X = np.random.RandomState(0).randn(200, 5)
callbacks = None
if mode == "different-data" and rank == "1":
    X = X[:-1]
if mode == "bad-data" and rank == "1":
    X[5, 2] = np.nan
if mode == "rank-fails":
    callbacks = [FailOnRank1()]
est = C2BINClusterer(n_clusters=3, max_epochs=5, batch_size=32, hidden_size=16, representation_size=8,
                     projection_size=8, device="cpu", random_state=0, callbacks=callbacks)
t0 = time.monotonic()
try:
    est.fit(X)
    outcome = "no error"
except Exception as exc:
    outcome = f"{type(exc).__name__}: {exc}"
    if mode == "rank-fails" and rank == "1":
        with open(os.path.join(out, f"rank{rank}.txt"), "w") as f:
            f.write(f"{time.monotonic() - t0:.1f}\n{outcome}\n")
        raise
with open(os.path.join(out, f"rank{rank}.txt"), "w") as f:
    f.write(f"{time.monotonic() - t0:.1f}\n{outcome}\n")
if mode == "bad-data" and rank == "1":
    time.sleep(120)  # a process that caught its error and went on; torchrun ends it
sys.exit(1 if outcome != "no error" else 0)
