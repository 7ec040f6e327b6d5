"""A plain user script: nothing in it knows about distributed training.

``tests/test_distributed.py`` runs it once as ``python user_script.py OUT`` would (in the
test's process, with ``runpy``) and once with
``python -m torch.distributed.run --standalone --nproc_per_node 2``; each
process writes what it ended with to ``<out>/rank<RANK>.json``.
"""

import hashlib
import json
import os
import pickle
import sys

import numpy as np

from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from skc2bin import C2BINClusterer

#: Global batch (each of 2 processes steps on half of it).
BATCH = 32

X, y = make_blobs(n_samples=320, centers=4, n_features=6, cluster_std=1.5, random_state=0)
est = C2BINClusterer(n_clusters=4, max_epochs=6, batch_size=BATCH, hidden_size=32, representation_size=16,
                     projection_size=16, device="cpu", random_state=0, verbose=1)
est.fit(X)
est.set_params(warm_start=True, max_epochs=2).fit(X)  # 2 more epochs: 8 in all

rank = os.environ.get("RANK", "0")
model = os.path.join(sys.argv[1], "model.safetensors")
if rank == "0":
    est.save(model)  # once, by rank 0
    assert np.array_equal(C2BINClusterer.load(model).predict(X), est.predict(X))
assert np.array_equal(pickle.loads(pickle.dumps(est)).predict(X), est.predict(X))

weights = hashlib.sha256()
for name, value in est.net_.module_.state_dict().items():
    weights.update(name.encode() + value.numpy().tobytes())
result = {
    "labels": est.labels_.tolist(),
    "predict": est.predict(X).tolist(),
    "ari": adjusted_rand_score(y, est.labels_),
    "history": [{k: v for k, v in epoch.items() if k != "batches"} for epoch in est.history_],
    "head_losses": [b["head_losses"] for b in est.history_[-1]["batches"]],
    "batch_sizes": sorted({b["train_batch_size"] for epoch in est.history_ for b in epoch["batches"]}),
    "weights": weights.hexdigest(),
    "rng_states": [s.hex() for s in est.net_.rng_states_],
}
with open(os.path.join(sys.argv[1], f"rank{rank}.json"), "w") as f:
    json.dump(result, f)
