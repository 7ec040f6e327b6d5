"""Model files without pickle: weights in safetensors, everything else in JSON.

A file written by :func:`save_model` is one ``.safetensors`` file:

* tensors: the online network (``module.*``, the learned input
  normalisation included), the target network (``target.*``) and the
  training labels;
* header metadata (strings): the file format, the skc2bin version, the
  estimator's parameters, the fitted description (input layout, cluster
  counts, representation width, feature names), the training history and
  random-stream states, all as JSON, plus a SHA-256 digest of all of it and
  of every tensor's bytes.

Loading parses the safetensors header (no code runs), checks the format and
the digest, rebuilds the networks from the parameters and loads the weights
strictly. A file that was edited, truncated or written by another format
version is refused with a ValueError. The digest detects accidental or naive
changes; it is not a signature: someone who rewrites the digest too can still
change the weights (but, unlike with pickle, not run code).

The optimizer's moments are not stored: a loaded model predicts exactly like
the saved one; training it further (``warm_start``/``partial_fit``) starts
with fresh optimizer moments.
"""

import hashlib
import json

import numpy as np
import torch

from ._validation import InputSpec
from .training import EMA_CALLBACK

__all__ = ["save_model", "load_model", "FORMAT"]

#: Identifies the file layout; bumped on any incompatible change.
FORMAT = "skc2bin-model-1"

_JSON_TYPES = (str, int, float, bool, type(None))


def _digest(metadata, tensors):
    h = hashlib.sha256()
    for key in sorted(metadata):
        if key != "sha256":
            h.update(f"{key}={metadata[key]}\n".encode())
    for name in sorted(tensors):
        t = tensors[name].contiguous().cpu()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}\n".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def _param_to_json(name, value):
    if isinstance(value, _JSON_TYPES):
        return value
    if isinstance(value, (tuple, list)) and all(isinstance(v, _JSON_TYPES) for v in value):
        return {"__tuple__": list(value)} if isinstance(value, tuple) else list(value)
    if name == "random_state" and isinstance(value, np.random.RandomState):
        return None  # only seeds the initial fit
    return {"__custom__": repr(value)}


def _param_from_json(value):
    if isinstance(value, dict) and "__tuple__" in value:
        return tuple(value["__tuple__"])
    return value


def save_model(estimator, path):
    """Write a fitted :class:`C2BINClusterer` to ``path`` without pickle.

    Parameters that are Python objects (a custom backbone module, an
    augmentation callable, callbacks, an optimizer class) are recorded by
    name only; :func:`load_model` asks for them again.
    """
    from safetensors.torch import save_file

    net = estimator.net_
    tensors = {f"module.{k}": v.detach().cpu().contiguous() for k, v in net.module_.state_dict().items()}
    tensors.update({f"target.{k}": v.detach().cpu().contiguous() for k, v in net.target_.state_dict().items()})
    tensors["labels_per_scale"] = torch.from_numpy(np.ascontiguousarray(estimator.labels_per_scale_))
    from . import __version__

    spec = estimator.input_spec_
    callbacks = dict(net.callbacks_)
    fitted = {
        "input_spec": {"layout": spec.layout, "raw_shape": list(spec.raw_shape),
                       "sample_shape": list(spec.sample_shape)},
        "n_clusters": list(estimator.n_clusters_),
        "n_features_in": estimator.n_features_in_,
        "n_features_out": estimator._n_features_out,
        "feature_names_in": (
            [str(f) for f in estimator.feature_names_in_] if hasattr(estimator, "feature_names_in_") else None
        ),
        "batch_size": net.batch_size,
        "ema_step": callbacks[EMA_CALLBACK].step_,
        "ema_total_steps": callbacks[EMA_CALLBACK].total_steps,
        "rng_states": [s.hex() for s in estimator._rng_states_],
    }
    history = [{k: v for k, v in epoch.items() if k != "batches"} for epoch in net.history]
    metadata = {
        "format": FORMAT,
        "skc2bin_version": __version__,
        "params": json.dumps({k: _param_to_json(k, v) for k, v in estimator.get_params().items()}),
        "fitted": json.dumps(fitted),
        "history": json.dumps(history),
    }
    metadata["sha256"] = _digest(metadata, tensors)
    save_file(tensors, str(path), metadata=metadata)


def _read(path):
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            metadata = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise ValueError(
            f"{path} is not a readable skc2bin model file ({type(exc).__name__}: {exc}). "
            "Save models with C2BINClusterer.save(path)."
        ) from exc
    return metadata, tensors


def load_model(path, **overrides):
    """Read a model written by :func:`save_model`.

    Parameters
    ----------
    path : str or path-like
    **overrides
        Values for parameters saved as custom Python objects (e.g.
        ``backbone=MyNet()``, which must have the saved architecture), or any
        other parameter to change.

    Returns
    -------
    estimator : C2BINClusterer
        Fitted; predicts exactly like the saved one.

    Raises
    ------
    ValueError
        The file is not a skc2bin model, was modified after saving, comes
        from an incompatible format version, or needs a custom parameter that
        was not passed.
    """
    from . import __version__
    from .clusterer import C2BINClusterer

    metadata, tensors = _read(path)
    if metadata.get("format") != FORMAT:
        found = metadata.get("format", "no skc2bin format tag")
        raise ValueError(
            f"{path} has format {found!r}; this skc2bin ({__version__}) reads {FORMAT!r}. "
            f"The file was written by skc2bin {metadata.get('skc2bin_version', '(unknown)')}: "
            "load it with that version, or refit."
        )
    if metadata.get("sha256") != _digest(metadata, tensors):
        raise ValueError(
            f"{path} does not match its checksum: its weights or metadata were changed "
            "after saving (or the file is damaged). Refusing to load it."
        )
    try:
        params = {k: _param_from_json(v) for k, v in json.loads(metadata["params"]).items()}
        fitted = json.loads(metadata["fitted"])
        history = json.loads(metadata["history"])
    except (KeyError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} has malformed skc2bin metadata ({exc}).") from exc

    params["callbacks"] = None  # training-time objects are not stored
    params.update(overrides)
    custom = sorted(k for k, v in params.items() if isinstance(v, dict) and "__custom__" in v)
    if custom:
        raise ValueError(
            f"{path} was saved with custom Python objects for {custom}; pass them again, "
            f"e.g. C2BINClusterer.load(path, {custom[0]}=...)."
        )

    est = C2BINClusterer(**params)
    est._validate_params()
    spec = InputSpec(
        fitted["input_spec"]["layout"],
        tuple(fitted["input_spec"]["raw_shape"]),
        tuple(fitted["input_spec"]["sample_shape"]),
    )
    n_clusters = tuple(fitted["n_clusters"])
    from .preprocessing import Preprocessor

    network, rep_dim = est._build_network(spec, n_clusters, Preprocessor(spec.layout, spec.sample_shape), seed=0)
    device = "cuda" if est.device != "cpu" and torch.cuda.is_available() else "cpu"
    module_state = {k[len("module."):]: v for k, v in tensors.items() if k.startswith("module.")}
    target_state = {k[len("target."):]: v for k, v in tensors.items() if k.startswith("target.")}
    try:
        network.load_state_dict(module_state, strict=True)
        net = est._build_net(network, fitted["batch_size"], fitted["ema_total_steps"], device, spec)
        net.target_.load_state_dict(target_state, strict=True)
    except RuntimeError as exc:
        raise ValueError(
            f"The weights in {path} do not fit the network its parameters describe ({exc}). "
            "If a custom backbone was passed, it must have the saved architecture."
        ) from exc
    dict(net.callbacks_)[EMA_CALLBACK].step_ = fitted["ema_step"]
    for epoch in history:
        net.history.new_epoch()
        for key, value in epoch.items():
            net.history.record(key, value)

    est.net_ = net
    est.input_spec_ = spec
    est.n_clusters_ = n_clusters
    est.n_features_in_ = fitted["n_features_in"]
    if fitted["feature_names_in"] is not None:
        est.feature_names_in_ = np.asarray(fitted["feature_names_in"], dtype=object)
    est._n_features_out = rep_dim
    est._rng_states_ = tuple(bytes.fromhex(s) for s in fitted["rng_states"])
    est.labels_per_scale_ = tensors["labels_per_scale"].numpy().copy()
    est.labels_ = est.labels_per_scale_[:, 0].copy()
    return est
