"""Input validation: what ``X`` is and how the networks will read it.

One convention for images: **channels last**, ``(n, height, width,
channels)``, as numpy, PIL and matplotlib lay them out;
``image_format='channels_first'`` reads ``(n, channels, height, width)``
instead. 3-D arrays are grayscale ``(n, height, width)``. 2-D arrays are
feature vectors unless ``image_shape`` says how to read each row as an
image.
"""

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.utils import check_array
from sklearn.utils.validation import validate_data

from .data import as_sample_tensor
from .preprocessing import _CHANNELS_FIRST

# Kept as they are; any other numeric dtype is converted to float32.
_DTYPES = (np.float32, np.float64, np.uint8)
_CHANNEL_COUNTS = (1, 3, 4)


@dataclass(frozen=True)
class InputSpec:
    """How the samples of ``X`` are laid out.

    Attributes
    ----------
    layout : {'vector', 'flat', 'flat_hwc', 'nhw', 'nhwc', 'nchw'}
    raw_shape : tuple of int
        Shape of one sample as given.
    sample_shape : tuple of int
        Shape of one network input: ``(n_features,)`` or ``(c, h, w)``.
    """

    layout: str
    raw_shape: tuple
    sample_shape: tuple

    @property
    def is_image(self):
        return self.layout != "vector"


def _sequence_as_array(X):
    """A nested list/tuple as the NumPy array it makes; anything else as is.

    scikit-learn converts input without a dtype to the first dtype of the
    accepted list (float32 here), while a float64 array is kept: a list
    would then train in another precision than the array it spells. Making
    the array first gives both the same dtype (and the same result). Ragged
    or non-numeric sequences are left to ``check_array``, which reports them.
    """
    if hasattr(X, "dtype") or hasattr(X, "dtypes") or not isinstance(X, (list, tuple)):
        return X
    try:
        arr = np.asarray(X)
    except (ValueError, TypeError):
        return X
    return arr if arr.dtype.kind in "biuf" else X


def _ndim(X):
    ndim = getattr(X, "ndim", None)
    if ndim is None:
        try:
            ndim = np.asarray(X).ndim
        except (ValueError, TypeError):  # ragged or odd input: check_array reports it
            ndim = None
    return ndim


def _image_shape_from_rows(n_features, image_shape, image_format):
    """Network shape ``(c, h, w)`` for flat rows read as ``image_shape``."""
    shape = tuple(int(s) for s in image_shape)
    if len(shape) == 2:
        chw = (1, *shape)
    elif image_format == "channels_last":
        chw = (shape[2], shape[0], shape[1])
    else:
        chw = shape
    if int(np.prod(shape)) != n_features:
        raise ValueError(
            f"image_shape={tuple(image_shape)} holds {int(np.prod(shape))} values, but X has "
            f"{n_features} features per row. Set image_shape to the (height, width) or "
            "(height, width, channels) of the images the rows hold, or image_shape=None "
            "to treat the rows as feature vectors."
        )
    return chw


def _image_spec(shape, image_format, image_shape):
    """InputSpec of a 3-D or 4-D image array of ``shape``."""
    raw = tuple(int(s) for s in shape[1:])
    if 0 in raw:
        raise ValueError(
            f"X has shape {tuple(shape)}: images with a zero-length axis hold no pixels. "
            "Pass images of at least 1x1 pixel (and at least one channel)."
        )
    if len(raw) == 2:
        spec = InputSpec("nhw", raw, (1, *raw))
    elif image_format == "channels_last":
        if raw[2] not in _CHANNEL_COUNTS and raw[0] in _CHANNEL_COUNTS:
            raise ValueError(
                f"X has shape {tuple(shape)}: read channels last (the default) that is "
                f"{raw[0]}x{raw[1]} images with {raw[2]} channels, but it looks like "
                f"{raw[1]}x{raw[2]} images with {raw[0]} channels first. Set "
                "image_format='channels_first', or transpose X to (n, height, width, channels)."
            )
        spec = InputSpec("nhwc", raw, (raw[2], raw[0], raw[1]))
    else:
        if raw[0] not in _CHANNEL_COUNTS and raw[2] in _CHANNEL_COUNTS:
            raise ValueError(
                f"X has shape {tuple(shape)}: read channels first that is {raw[1]}x{raw[2]} "
                f"images with {raw[0]} channels, but it looks like {raw[0]}x{raw[1]} images "
                f"with {raw[2]} channels last. Set image_format='channels_last'."
            )
        spec = InputSpec("nchw", raw, raw)
    if image_shape is not None:
        expected = _image_shape_from_rows(int(np.prod(raw)), image_shape, image_format)
        if expected != spec.sample_shape:
            raise ValueError(
                f"image_shape={tuple(image_shape)} does not match the images in X "
                f"(shape {tuple(shape)}). image_shape is only needed for 2-D X; set it to "
                "None for image arrays."
            )
    return spec


def check_input(estimator, X, *, reset):
    """Validate ``X`` for ``estimator`` and describe its layout.

    Parameters
    ----------
    estimator : C2BINClusterer
        Supplies ``image_shape`` and ``image_format``; on ``reset=True`` its
        ``n_features_in_`` (and ``feature_names_in_``) are set, otherwise
        ``X`` is checked against them.
    X : array-like
        2-D features, or 3-D/4-D images.
    reset : bool
        True in fit, False in predict/transform.

    Returns
    -------
    X : ndarray, C-contiguous, of dtype float32, float64 or uint8
    spec : InputSpec
    """
    X = _sequence_as_array(X)
    ndim = _ndim(X)
    if ndim in (3, 4):
        X = check_array(
            X,
            dtype=_DTYPES,
            allow_nd=True,
            ensure_all_finite=True,
            order="C",
            input_name="X",
            estimator=estimator,
        )
        spec = _image_spec(X.shape, estimator.image_format, estimator.image_shape)
        if reset:
            estimator.n_features_in_ = int(np.prod(spec.raw_shape))
            if hasattr(estimator, "feature_names_in_"):
                del estimator.feature_names_in_
    elif ndim is not None and ndim > 4:
        raise ValueError(
            f"X has {ndim} dimensions. Expected 2-D feature vectors (n_samples, n_features), "
            "3-D grayscale images (n, height, width) or 4-D images (n, height, width, channels)."
        )
    else:
        # 2-D (or invalid, which sklearn reports with its usual message).
        X = validate_data(
            estimator,
            X,
            reset=reset,
            dtype=_DTYPES,
            ensure_all_finite=True,
            order="C",
        )
        if estimator.image_shape is None:
            spec = InputSpec("vector", (X.shape[1],), (X.shape[1],))
        else:
            chw = _image_shape_from_rows(X.shape[1], estimator.image_shape, estimator.image_format)
            hwc = len(estimator.image_shape) == 3 and estimator.image_format == "channels_last"
            spec = InputSpec("flat_hwc" if hwc else "flat", (X.shape[1],), chw)
    if not reset:
        _check_same_layout(estimator, spec)
    return np.ascontiguousarray(X), spec


def _check_same_layout(estimator, spec):
    """Raise unless ``spec`` describes samples laid out as in fit."""
    fitted = estimator.input_spec_
    if spec.layout in _CHANNELS_FIRST and fitted.layout in _CHANNELS_FIRST:
        same = spec.sample_shape == fitted.sample_shape
    else:
        same = spec.raw_shape == fitted.raw_shape and spec.layout == fitted.layout
    if not same:
        hint = "Pass data shaped like the training data."
        if spec.sample_shape == fitted.sample_shape:
            hint = (
                "The samples hold the same images in another layout: a torch Dataset gives "
                "(channels, height, width) samples, as does an array read with "
                "image_format='channels_first'. Pass the images in the layout used in fit."
            )
        raise ValueError(
            f"X has samples of shape {spec.raw_shape}, but {type(estimator).__name__} was "
            f"fitted on samples of shape {fitted.raw_shape}. {hint}"
        )


def check_dataset(estimator, dataset, *, reset):
    """Validate a torch Dataset for ``estimator`` from its first sample.

    Samples follow torch's layout: 1-D feature vectors, 2-D grayscale images
    ``(height, width)`` or 3-D images ``(channels, height, width)`` — what
    PIL images (converted by :func:`skc2bin.data.as_sample_tensor`) and
    torchvision's ``ToTensor``/``PILToTensor`` give. ``image_shape`` and
    ``image_format`` apply to arrays only. Every sample must have the first
    one's shape; the batches check that as they are read.

    Returns
    -------
    dataset : torch.utils.data.Dataset
        Unchanged.
    spec : InputSpec
    """
    try:
        n = len(dataset)
    except TypeError:
        raise TypeError(
            f"X is a {type(dataset).__name__} without a length. Pass a map-style torch Dataset "
            "(with __len__ and __getitem__), or an array."
        ) from None
    if n < 1:
        raise ValueError("X is an empty Dataset (0 samples). Pass a Dataset with samples.")
    sample = as_sample_tensor(dataset[0])
    shape = tuple(int(s) for s in sample.shape)
    if 0 in shape:
        raise ValueError(f"Dataset samples have shape {shape}: a zero-length axis holds no values.")
    if sample.is_complex() or sample.dtype == torch.bool:
        raise ValueError(f"Dataset samples are {sample.dtype}; pass real-valued samples.")
    if len(shape) == 1:
        spec = InputSpec("vector", shape, shape)
    elif len(shape) == 2:
        spec = InputSpec("nhw", shape, (1, *shape))
    elif len(shape) == 3:
        if shape[0] not in _CHANNEL_COUNTS:
            raise ValueError(
                f"Dataset samples have shape {shape}: read channels first (torch's layout) that "
                f"is {shape[1]}x{shape[2]} images with {shape[0]} channels. Give the dataset a "
                "transform that returns (channels, height, width) tensors, e.g. "
                "torchvision.transforms.PILToTensor(), or return PIL images."
            )
        spec = InputSpec("nchw", shape, shape)
    else:
        raise ValueError(
            f"Dataset samples have shape {shape}. Expected feature vectors (n_features,), "
            "grayscale images (height, width) or images (channels, height, width)."
        )
    if reset:
        estimator.n_features_in_ = int(np.prod(shape))
        if hasattr(estimator, "feature_names_in_"):
            del estimator.feature_names_in_
    else:
        _check_same_layout(estimator, spec)
    return dataset, spec
