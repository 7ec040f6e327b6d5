"""
Multi-scale clusters: how fine clusters nest in coarse ones
===========================================================

``n_clusters`` may be a tuple: ``n_clusters=(10, 30)`` trains a 10-cluster
and a 30-cluster head together on one shared representation (C2BIN's
"pyramidal multi-heads"). The first entry is the primary scale
(``labels_``, ``predict``); ``labels_per_scale_`` and
:meth:`~skc2bin.C2BINClusterer.predict_per_scale` give one column per entry.

The heads are trained independently, so nothing forces a fine cluster to lie
inside one coarse cluster. This example draws how far they do.

To stay under a minute on a CPU, the model trains for 40 epochs
(``max_epochs=40``; the default is 100).
"""

# %%
# Fit two scales
# --------------
from sklearn.datasets import load_digits

from skc2bin import C2BINClusterer
from skc2bin.metrics import clustering_accuracy

X, y = load_digits(return_X_y=True)
est = C2BINClusterer(n_clusters=(10, 30), image_shape=(8, 8), max_epochs=40, random_state=0).fit(X)

coarse, fine = est.labels_per_scale_.T
print("labels_per_scale_:", est.labels_per_scale_.shape, "n_clusters_:", est.n_clusters_)
print(f"coarse clusters used: {len(set(coarse))}, fine clusters used: {len(set(fine))}")
print(f"ACC of the 10-cluster scale: {clustering_accuracy(y, coarse):.3f}")

# %%
# Nesting picture
# ---------------
# One column per fine cluster, one row per coarse cluster; each cell is the
# share of the fine cluster's images that the coarse head put in that coarse
# cluster. A perfectly nested fine cluster is a single dark cell in its
# column. Fine clusters are grouped under the coarse cluster that holds most
# of their images. (``benchmarks/multiscale.py`` reports the share of images
# whose fine cluster's majority coarse cluster is their own, as a number.)
from skc2bin.plotting import plot_scale_nesting

fig = plot_scale_nesting(coarse, fine, title="digits: 30 fine clusters inside 10 coarse ones")

# %%
# What the fine clusters separate
# -------------------------------
# Inside one coarse cluster, the fine clusters split a digit by writing
# style: on digits, for example, ones with a flag, plain ones, ones with a
# foot stroke and thick ones. Below, the coarse cluster with the most fine
# clusters, one row per fine cluster.
import numpy as np
from sklearn.metrics.cluster import contingency_matrix

from skc2bin.plotting import plot_cluster_samples

counts = contingency_matrix(coarse, fine)  # coarse × fine
home = counts.argmax(axis=0)  # coarse cluster holding most of each fine cluster
fine_ids = np.unique(fine)
busiest = np.bincount(home).argmax()
inside = fine_ids[home == busiest]
members = np.isin(fine, inside) & (coarse == np.unique(coarse)[busiest])
fig = plot_cluster_samples(
    X[members].reshape(-1, 8, 8), fine[members], n_per_cluster=10,
    title=f"coarse cluster {np.unique(coarse)[busiest]}: its fine clusters (rows)",
)

# %%
# Predicting new data at every scale
# ----------------------------------
# ``predict_per_scale`` returns both columns for new samples;
# ``predict`` returns the primary (first) one.
print(est.predict_per_scale(X[:5]))
print(est.predict(X[:5]))
