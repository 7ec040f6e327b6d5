"""
Digits quickstart
=================

Cluster scikit-learn's 1,797 handwritten digits (8×8 images) with
:class:`~skc2bin.C2BINClusterer`, compare the clusters with the true digits
and with KMeans, and look at what the model learned: sample images per
cluster, a confusion matrix, a 2-D map of the learned representation and the
training history.

The labels ``y`` are used only to score and draw the result, never to train.
The fit runs the default 100 epochs: about a minute on two CPU cores.

Run it as a script with ``python examples/plot_digits_quickstart.py``: it
prints the scores and saves the sample images to ``digits_clusters.png``.
"""

# %%
# Fit C2BIN and KMeans
# --------------------
# ``load_digits`` gives each image as a row of 64 pixels. ``image_shape=(8, 8)``
# tells the estimator to read the rows as 8×8 images, so it uses a small CNN
# and image augmentations (random affine, brightness, noise) instead of the
# MLP and feature corruption used for plain feature vectors.
import time

from sklearn.cluster import KMeans
from sklearn.datasets import load_digits
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from skc2bin import C2BINClusterer
from skc2bin.metrics import clustering_accuracy

X, y = load_digits(return_X_y=True)

t0 = time.perf_counter()
est = C2BINClusterer(n_clusters=10, image_shape=(8, 8), random_state=0).fit(X)
c2bin_seconds = time.perf_counter() - t0

t0 = time.perf_counter()
kmeans = KMeans(n_clusters=10, n_init=10, random_state=0).fit(X)
kmeans_seconds = time.perf_counter() - t0

# %%
# Clustering accuracy (ACC) maps each cluster to one digit with the Hungarian
# algorithm and counts the samples that land on their own digit; NMI and ARI
# compare the partitions without a map. All three are 1 for a perfect
# clustering.
print(f"{'method':<8}{'ACC':>7}{'NMI':>7}{'ARI':>7}{'fit s':>8}")
for name, labels, seconds in (
    ("C2BIN", est.labels_, c2bin_seconds),
    ("KMeans", kmeans.labels_, kmeans_seconds),
):
    acc = clustering_accuracy(y, labels)
    nmi = normalized_mutual_info_score(y, labels)
    ari = adjusted_rand_score(y, labels)
    print(f"{name:<8}{acc:7.3f}{nmi:7.3f}{ari:7.3f}{seconds:8.1f}")

# %%
# Sample images per cluster
# -------------------------
# One row per cluster, ten random members each; the number in brackets is the
# size of the cluster. Cluster numbers are arbitrary: cluster 0 need not hold
# zeros.
from skc2bin.plotting import plot_cluster_samples

fig = plot_cluster_samples(
    X.reshape(-1, 8, 8), est.labels_,
    title=f"C2BIN on digits: 10 samples per cluster (ACC {clustering_accuracy(y, est.labels_):.3f})",
)
fig.savefig("digits_clusters.png", dpi=120)

# %%
# Confusion matrix against the true digits
# ----------------------------------------
# Columns are the clusters, reordered so that the cluster matched to digit
# ``i`` stands in column ``i``: the diagonal holds the samples that ACC counts
# as correct; anything off the diagonal is a digit split across clusters or
# two digits sharing one.
from skc2bin.plotting import plot_confusion_matrix

fig = plot_confusion_matrix(y, est.labels_, title="C2BIN clusters vs true digits")

# %%
# A 2-D map of the learned representation
# ---------------------------------------
# :meth:`~skc2bin.C2BINClusterer.transform` returns the 128-dimensional
# representation of each image (the backbone's output). t-SNE draws it in two
# dimensions; left, the points are coloured by cluster, right, by true digit.
import matplotlib.pyplot as plt
from sklearn.manifold import TSNE

from skc2bin.plotting import plot_embedding

embedding = est.transform(X)
print("representation:", embedding.shape, embedding.dtype)
xy = TSNE(n_components=2, init="pca", random_state=0).fit_transform(embedding)

fig, (left, right) = plt.subplots(1, 2, figsize=(11, 5))
plot_embedding(xy, est.labels_, ax=left, title="coloured by C2BIN cluster")
plot_embedding(xy, y, ax=right, title="coloured by true digit")
fig.tight_layout()

# %%
# Training history
# ----------------
# ``est.history_`` is skorch's per-epoch record. The total loss is the BYOL
# instance loss plus the cluster terms; the instance loss keeps falling while
# the cluster contrast levels off once the clusters are settled, and the
# entropy term stays near zero as long as all clusters are used. The EMA
# momentum of the target network rises from 0.99 towards 1 over the fit.
from skc2bin.plotting import plot_training_history

fig = plot_training_history(est, title="C2BIN on digits: training history")
last = est.history_[-1]
print(f"epoch {last['epoch']}: train_loss {last['train_loss']:.3f}, "
      f"instance_loss {last['instance_loss']:.3f}, contrast_loss {last['contrast_loss']:.3f}, "
      f"entropy_loss {last['entropy_loss']:.4f}")
print("saved digits_clusters.png")

# sphinx_gallery_thumbnail_number = 1
