"""
Choosing n_clusters with GridSearchCV, with and without labels
==============================================================

:class:`~skc2bin.C2BINClusterer` follows scikit-learn's estimator contract,
so :class:`~sklearn.model_selection.GridSearchCV` can tune it like any
other estimator. Two situations:

* **with labels** for some data: score each candidate's ``predict`` on the
  held-out fold against the labels (here with the adjusted Rand index);
* **without labels**: leave ``scoring`` out and ``GridSearchCV`` uses
  :meth:`~skc2bin.C2BINClusterer.score`, the silhouette of the predicted
  clusters of the held-out fold in the standardised input space, a space that
  does not depend on the model, so candidates with different ``n_clusters``
  are compared on the same footing.

Each candidate is trained once per fold. To keep this example near a minute
on a CPU, the models train for 10 epochs (``max_epochs=10``, a tenth of the
default), on 2 folds, over three values of ``n_clusters``; with more time,
train longer and use more folds.
"""

# %%
# The search space
# ----------------
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, KFold

from skc2bin import C2BINClusterer

X, y = load_digits(return_X_y=True)
base = C2BINClusterer(image_shape=(8, 8), max_epochs=10, random_state=0)
grid = {"n_clusters": [5, 10, 15]}
cv = KFold(n_splits=2, shuffle=True, random_state=0)

# %%
# With labels
# -----------
# ``scoring="adjusted_rand_score"`` compares ``predict(X_fold)`` with
# ``y_fold``; ARI does not need cluster numbers to match class numbers.
# :data:`skc2bin.metrics.clustering_accuracy_scorer` would score the
# clustering accuracy instead.
with_labels = GridSearchCV(base, grid, scoring="adjusted_rand_score", cv=cv).fit(X, y)
print("with labels, best:", with_labels.best_params_, f"ARI {with_labels.best_score_:.3f}")

# %%
# Without labels
# --------------
# No ``y`` and no ``scoring``: the estimator's own ``score`` ranks the
# candidates. Putting everything into one cluster scores -1, so the search
# cannot win by collapsing the data.
without_labels = GridSearchCV(base, grid, cv=cv).fit(X)
print("without labels, best:", without_labels.best_params_, f"silhouette {without_labels.best_score_:.3f}")

# %%
# Both searches side by side. The silhouette measures how compact and
# separated the clusters are in pixel space; it is a proxy and need not
# agree with the labels, so check its choice by looking at the clusters
# (e.g. with :func:`skc2bin.plotting.plot_cluster_samples`) when you can.
ari = with_labels.cv_results_["mean_test_score"]
silhouette = without_labels.cv_results_["mean_test_score"]
print(f"{'n_clusters':>10}{'ARI (with labels)':>20}{'silhouette (no labels)':>25}")
for k, a, s in zip(grid["n_clusters"], ari, silhouette):
    print(f"{k:>10}{a:>20.3f}{s:>25.3f}")

# %%
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(5.5, 3.5))
ax.plot(grid["n_clusters"], ari, "-o", label="ARI vs labels (higher is better)")
ax.plot(grid["n_clusters"], silhouette, "--s",
        label="silhouette, no labels (higher is better)")
ax.set_xticks(grid["n_clusters"])
ax.set_xlabel("n_clusters")
ax.set_ylabel("mean score over 2 held-out folds")
ax.legend(fontsize=8)
fig.tight_layout()

# %%
# The refitted best model
# -----------------------
# Both searches refit the best candidate on all the data they were given
# (``refit=True`` is the default); ``best_estimator_`` is a fitted
# C2BINClusterer.
best = without_labels.best_estimator_
print(type(best).__name__, "n_clusters =", best.n_clusters, "labels:", best.labels_[:20])
