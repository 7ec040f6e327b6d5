"""
The representation in a Pipeline: linear probe and k-NN
=======================================================

:class:`~skc2bin.C2BINClusterer` is also a transformer: ``transform`` returns
the representation its backbone learned without labels. Put it at the head
of a :class:`~sklearn.pipeline.Pipeline` and a classifier trained on few
labels reads the classes off that representation. This is the usual way to
measure self-supervised features: a *linear probe* (logistic regression) and
a *k-nearest-neighbour* classifier, trained on labelled training images and
scored on held-out test images, beside the same classifiers on raw pixels.

To stay under a minute on a CPU, C2BIN trains for 30 epochs here
(``max_epochs=30``; the default is 100).
"""

# %%
# Train/test split
# ----------------
# C2BIN is fitted on the training images only (it ignores their labels), so
# the test images are new to both the representation and the classifiers.
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)

# %%
# Linear probe
# ------------
# The Pipeline passes ``y_train`` to every step's ``fit``; C2BIN ignores it
# and hands its ``transform`` output (128 floats per image) to the scaler and
# the logistic regression.
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skc2bin import C2BINClusterer

c2bin = C2BINClusterer(n_clusters=10, image_shape=(8, 8), max_epochs=30, random_state=0)
linear_probe = make_pipeline(c2bin, StandardScaler(), LogisticRegression(max_iter=2000))
linear_probe.fit(X_train, y_train)
print(linear_probe)
print("linear probe on C2BIN features, test accuracy:", round(linear_probe.score(X_test, y_test), 3))

# %%
# k-NN on the same representation
# -------------------------------
# Refitting a Pipeline refits every step, C2BIN included. To reuse the fitted
# C2BIN, wrap it in :class:`~sklearn.frozen.FrozenEstimator`: its ``fit`` does
# nothing and ``transform`` uses the trained model.
from sklearn.frozen import FrozenEstimator
from sklearn.neighbors import KNeighborsClassifier

fitted_c2bin = linear_probe[0]
knn = make_pipeline(FrozenEstimator(fitted_c2bin), KNeighborsClassifier(n_neighbors=10))
knn.fit(X_train, y_train)
print("10-NN on C2BIN features, test accuracy:", round(knn.score(X_test, y_test), 3))

# %%
# Against raw pixels, with fewer and fewer labels
# -----------------------------------------------
# Both classifiers also do well on raw pixels when all 1,347 training labels
# are available. The representation matters most when labels are scarce: with
# a handful of labelled images per digit, the classes are far easier to read
# off C2BIN's representation, which was learned from all training images
# without their labels, than off the pixels.
import numpy as np

features = {"C2BIN features": FrozenEstimator(fitted_c2bin), "raw pixels": "passthrough"}
probes = {
    "linear probe": lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)),
    "1-NN": lambda: KNeighborsClassifier(n_neighbors=1),
}
labels_per_class = [2, 5, 20, None]  # None: every training label
rng = np.random.RandomState(0)
subsets = {}
for n in labels_per_class:
    if n is None:
        subsets[n] = np.arange(len(y_train))
    else:
        subsets[n] = np.concatenate([rng.choice(np.flatnonzero(y_train == d), n, replace=False) for d in range(10)])

results = {}
for feature_name, feature in features.items():
    for probe_name, make_probe in probes.items():
        for n, idx in subsets.items():
            model = make_pipeline(feature, make_probe()).fit(X_train[idx], y_train[idx])
            results[feature_name, probe_name, n] = model.score(X_test, y_test)

print(f"{'labels per class':<30}" + "".join(f"{n or 'all'!s:>8}" for n in labels_per_class))
for feature_name in features:
    for probe_name in probes:
        row = "".join(f"{results[feature_name, probe_name, n]:8.3f}" for n in labels_per_class)
        print(f"{feature_name + ', ' + probe_name:<30}{row}")

# %%
# The same numbers as a picture.
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(6, 4))
positions = np.arange(len(labels_per_class))
for feature_name, color in zip(features, ("tab:blue", "tab:gray")):
    for probe_name, style in zip(probes, ("-o", "--s")):
        ax.plot(positions, [results[feature_name, probe_name, n] for n in labels_per_class], style,
                color=color, label=f"{feature_name}, {probe_name}")
ax.set_xticks(positions, [str(n or f"all (~{len(y_train) // 10})") for n in labels_per_class])
ax.set_xlabel("labelled training images per digit")
ax.set_ylabel("test accuracy")
ax.set_title("Digits: classifiers on C2BIN features vs raw pixels")
ax.legend(fontsize=8)
fig.tight_layout()
