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

This module writes and reads the estimator's *fitted state* (the dict of
``C2BINClusterer._get_fitted_state``) and parameters; it never imports the
estimator: :meth:`C2BINClusterer.save`/:meth:`~C2BINClusterer.load` call it.
Networks and the net are rebuilt with the same module-level builders ``fit``
uses (:func:`skc2bin.networks.build_network`,
:func:`skc2bin.training.make_net`).

Built-in augmentation objects (``GrayscaleAugment(rotation=25)``) are stored
by class name and parameters and rebuilt on load; other Python objects are
stored by ``repr`` only and must be passed again.

The optimizer's moments are not stored: a loaded model predicts exactly like
the saved one; training it further (``warm_start``/``partial_fit``) starts
with fresh optimizer moments.
"""

import hashlib
import json

import numpy as np
import torch

from ._validation import InputSpec
from .augment import BUILTIN_AUGMENTATIONS
from .networks import build_network
from .preprocessing import Preprocessor
from .training import EMA_CALLBACK, make_net

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


def _value_to_json(value):
    """A JSON value, or None when ``value`` is not plain data."""
    if isinstance(value, _JSON_TYPES):
        return value
    if isinstance(value, (tuple, list)):
        items = [_value_to_json(v) for v in value]
        if all(i is not None or v is None for i, v in zip(items, value)):
            return {"__tuple__": items} if isinstance(value, tuple) else items
    return None


def _param_to_json(name, value):
    plain = _value_to_json(value)
    if plain is not None or value is None:
        return plain
    if name == "random_state" and isinstance(value, np.random.RandomState):
        return None  # only seeds the initial fit
    if type(value) in BUILTIN_AUGMENTATIONS.values():
        params = {k: _value_to_json(v) for k, v in value.get_params().items()}
        if all(p is not None or value.get_params()[k] is None for k, p in params.items()):
            return {"__augmentation__": type(value).__name__, "params": params}
    return {"__custom__": repr(value)}


def _param_from_json(value):
    if isinstance(value, dict) and "__tuple__" in value:
        return tuple(_param_from_json(v) for v in value["__tuple__"])
    if isinstance(value, list):
        return [_param_from_json(v) for v in value]
    if isinstance(value, dict) and "__augmentation__" in value:
        cls = BUILTIN_AUGMENTATIONS.get(value["__augmentation__"])
        if cls is None:
            return {"__custom__": value["__augmentation__"]}
        return cls(**{k: _param_from_json(v) for k, v in value["params"].items()})
    return value


def save_model(path, params, state):
    """Write a fitted model to ``path`` without pickle.

    Parameters
    ----------
    path : str or path-like
    params : dict
        The estimator's parameters (``get_params(deep=False)``). Python
        objects among them (a custom backbone module, an augmentation
        callable, callbacks, an optimizer class) are recorded by name only;
        :func:`load_model` asks for them again.
    state : dict
        The estimator's fitted state (``_get_fitted_state()``).
    """
    from safetensors.torch import save_file

    from . import __version__

    net = state["net"]
    tensors = {f"module.{k}": v.detach().cpu().contiguous() for k, v in net.module_.state_dict().items()}
    tensors.update({f"target.{k}": v.detach().cpu().contiguous() for k, v in net.target_.state_dict().items()})
    tensors["labels_per_scale"] = torch.from_numpy(np.ascontiguousarray(state["labels_per_scale"]))
    spec = state["input_spec"]
    ema = dict(net.callbacks_)[EMA_CALLBACK]
    names = state.get("feature_names_in")
    fitted = {
        "input_spec": {"layout": spec.layout, "raw_shape": list(spec.raw_shape),
                       "sample_shape": list(spec.sample_shape)},
        "n_clusters": list(state["n_clusters"]),
        "n_features_in": state["n_features_in"],
        "n_features_out": net.module_.rep_dim,
        "feature_names_in": [str(f) for f in names] if names is not None else None,
        "batch_size": net.batch_size,
        "ema_step": ema.step_,
        "ema_total_steps": ema.total_steps,
        "rng_states": [s.hex() for s in net.rng_states_],
    }
    history = [{k: v for k, v in epoch.items() if k != "batches"} for epoch in net.history]
    metadata = {
        "format": FORMAT,
        "skc2bin_version": __version__,
        "params": json.dumps({k: _param_to_json(k, v) for k, v in params.items()}),
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


def load_model(path, validate=None, **overrides):
    """Read a model written by :func:`save_model`.

    Parameters
    ----------
    path : str or path-like
    validate : callable, optional
        Called with the parameters before anything is built (the estimator
        passes its parameter validation), so bad overrides fail early.
    **overrides
        Values for parameters saved as custom Python objects (e.g.
        ``backbone=MyNet()``, which must have the saved architecture), or any
        other parameter to change.

    Returns
    -------
    params : dict
        Parameters to construct the estimator with.
    state : dict
        Its fitted state (for ``C2BINClusterer._set_fitted_state``); the
        model predicts exactly like the saved one.

    Raises
    ------
    ValueError
        The file is not a skc2bin model, was modified after saving, comes
        from an incompatible format version, or needs a custom parameter that
        was not passed.
    """
    from . import __version__

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
    except (KeyError, json.JSONDecodeError, TypeError) as exc:
        raise ValueError(f"{path} has malformed skc2bin metadata ({exc}).") from exc

    params["callbacks"] = None  # training-time objects are not stored
    params.update(overrides)
    custom = sorted(k for k, v in params.items() if isinstance(v, dict) and "__custom__" in v)
    if custom:
        raise ValueError(
            f"{path} was saved with custom Python objects for {custom}; pass them again, "
            f"e.g. C2BINClusterer.load(path, {custom[0]}=...)."
        )
    if validate is not None:
        validate(params)

    spec = InputSpec(
        fitted["input_spec"]["layout"],
        tuple(fitted["input_spec"]["raw_shape"]),
        tuple(fitted["input_spec"]["sample_shape"]),
    )
    n_clusters = tuple(fitted["n_clusters"])
    network = build_network(params, spec.sample_shape, n_clusters, Preprocessor(spec.layout, spec.sample_shape), 0)
    device = "cuda" if params["device"] != "cpu" and torch.cuda.is_available() else "cpu"
    module_state = {k[len("module."):]: v for k, v in tensors.items() if k.startswith("module.")}
    target_state = {k[len("target."):]: v for k, v in tensors.items() if k.startswith("target.")}
    try:
        network.load_state_dict(module_state, strict=True)
        net = make_net(network, params, batch_size=fitted["batch_size"], total_steps=fitted["ema_total_steps"],
                       device=device, channels_last=spec.is_image, seed=0)
        net.target_.load_state_dict(target_state, strict=True)
    except RuntimeError as exc:
        raise ValueError(
            f"The weights in {path} do not fit the network its parameters describe ({exc}). "
            "If a custom backbone was passed, it must have the saved architecture."
        ) from exc
    dict(net.callbacks_)[EMA_CALLBACK].step_ = fitted["ema_step"]
    net.rng_states_ = tuple(bytes.fromhex(s) for s in fitted["rng_states"])
    for epoch in history:
        net.history.new_epoch()
        for key, value in epoch.items():
            net.history.record(key, value)
    names = fitted["feature_names_in"]
    state = {
        "net": net,
        "input_spec": spec,
        "n_clusters": n_clusters,
        "n_features_in": fitted["n_features_in"],
        "feature_names_in": np.asarray(names, dtype=object) if names is not None else None,
        "labels_per_scale": tensors["labels_per_scale"].numpy().copy(),
    }
    return params, state
