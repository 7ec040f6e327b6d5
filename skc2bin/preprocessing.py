"""Input normalisation learned in fit, applied batch by batch on the device.

The raw data stay as the user gave them (uint8 images stay uint8, nothing is
copied into float up front); each batch is converted on the training device:

* feature vectors: standardised per feature (``before_augment``), then
  augmented;
* images: brought to channels-first and mapped to ``[0, 1]`` with the data's
  min/max seen in fit (``before_augment``), augmented there, then standardised
  per channel (``after_augment``).

Because the ``[0, 1]`` mapping is learned from the data, the same images given
as uint8 0–255 or float 0–1 produce the same network inputs.
"""

import torch
from torch import nn

__all__ = ["Preprocessor", "fit_preprocessor"]

#: Layouts whose samples hold their values in channels-first order: a batch
#: of any of them becomes network input by a reshape alone, so a model
#: fitted on one accepts the others.
_CHANNELS_FIRST = ("flat", "nhw", "nchw")


class Preprocessor(nn.Module):
    """Raw batch -> network input.

    Parameters
    ----------
    layout : {'vector', 'flat', 'flat_hwc', 'nhw', 'nhwc', 'nchw'}
        How a raw batch is laid out: feature rows, flat rows read as
        channels-first (or single-channel) images, flat rows read as
        channels-last images, or 3-D/4-D image arrays.
    sample_shape : tuple of int
        Shape of one network input: ``(n_features,)`` or ``(c, h, w)``.

    Notes
    -----
    Buffers (float64): ``offset`` (images: the minimum seen in fit),
    ``scale`` (images: *half* the range seen in fit, so that it cannot
    overflow), ``mean`` and ``std`` (per feature, or per channel after the
    ``[0, 1]`` mapping).
    """

    def __init__(self, layout, sample_shape):
        super().__init__()
        self.layout = layout
        self.sample_shape = tuple(int(s) for s in sample_shape)
        stat_shape = (self.sample_shape[0],) if layout == "vector" else (self.sample_shape[0], 1, 1)
        # float64, so that float64 inputs of any magnitude are normalised
        # before being cast to float32.
        self.register_buffer("offset", torch.zeros((), dtype=torch.float64))
        self.register_buffer("scale", torch.ones((), dtype=torch.float64))
        self.register_buffer("mean", torch.zeros(stat_shape, dtype=torch.float64))
        self.register_buffer("std", torch.ones(stat_shape, dtype=torch.float64))

    @property
    def is_image(self):
        return self.layout != "vector"

    def to_layout(self, x):
        """Float batch in network layout: ``(n, d)`` or ``(n, c, h, w)``.

        float64 stays float64 (cast after normalisation), anything else
        becomes float32 (floating inputs become float64).
        """
        # Floating inputs are normalised in float64: a float32 column with a
        # spread near 1e-45, or values near the float maximum, stay finite
        # and non-zero there. Integer pixels are exact in float32.
        x = x.to(torch.float64 if x.is_floating_point() else torch.float32)
        if self.layout == "vector":
            return x
        if self.layout in _CHANNELS_FIRST:
            return x.reshape(x.shape[0], *self.sample_shape)
        if self.layout == "flat_hwc":
            c, h, w = self.sample_shape
            x = x.reshape(x.shape[0], h, w, c)
        return x.permute(0, 3, 1, 2)

    def before_augment(self, x):
        """Raw batch -> the space augmentations work in."""
        x = self.to_layout(x)
        # Scale before shifting (and images by half their range) so that
        # values near the float maximum never overflow.
        if self.is_image:
            x = (x * 0.5 - self.offset.to(x.dtype) * 0.5) / self.scale.to(x.dtype)
        else:
            std = self.std.to(x.dtype)
            x = x / std - self.mean.to(x.dtype) / std
        return x.to(torch.float32)

    def after_augment(self, x):
        """Augmented batch -> network input."""
        if self.is_image:
            return (x - self.mean.float()) / self.std.float()
        return x

    def forward(self, x):
        return self.after_augment(self.before_augment(x))


@torch.no_grad()
def fit_preprocessor(X, layout, sample_shape, chunk_size=8192):
    """Learn a :class:`Preprocessor`'s statistics from ``X``.

    Statistics are accumulated chunk by chunk in float64 (Chan's parallel
    update of mean and variance), so memory stays flat whatever ``len(X)``.

    Parameters
    ----------
    X : Tensor or callable
        The raw training data, in the layout named by ``layout``; or a
        callable that returns a fresh iterator over chunks of it (raw batch
        tensors), for data read from a torch Dataset.
    layout, sample_shape
        See :class:`Preprocessor`.

    Returns
    -------
    preprocessor : Preprocessor
    """
    if callable(X):
        chunks = X
    else:
        def chunks():
            return (X[start:start + chunk_size] for start in range(0, len(X), chunk_size))
    pre = Preprocessor(layout, sample_shape)
    if pre.is_image:
        lo, hi = float("inf"), float("-inf")
        for chunk in chunks():
            lo = min(lo, float(chunk.min()))
            hi = max(hi, float(chunk.max()))
        pre.offset.fill_(lo)
        # Half the range: hi - lo itself can overflow float64.
        pre.scale.fill_(hi / 2 - lo / 2 if hi > lo else 0.5)
        reduce_dims = (0, 2, 3)
        unit = torch.ones((), dtype=torch.float64)
    else:
        reduce_dims = (0,)
        # Divide by each feature's largest magnitude first, so squared
        # deviations cannot overflow float64 (spreads above ~1e154).
        unit = torch.zeros(sample_shape[0], dtype=torch.float64)
        for chunk in chunks():
            chunk = chunk.double().abs().amax(dim=0)
            unit = torch.maximum(unit, chunk)
        unit = torch.where((unit > 0) & torch.isfinite(unit), unit, torch.ones_like(unit))

    count, mean, m2 = 0, None, None
    for chunk in chunks():
        chunk = pre.to_layout(chunk).double()
        if pre.is_image:
            chunk = (chunk * 0.5 - pre.offset * 0.5) / pre.scale
        else:
            chunk = chunk / unit
        n = chunk.numel() // chunk.shape[1]
        c_mean = chunk.mean(dim=reduce_dims)
        c_m2 = ((chunk - c_mean.view(1, -1, *([1] * (chunk.ndim - 2)))) ** 2).sum(dim=reduce_dims)
        if mean is None:
            count, mean, m2 = n, c_mean, c_m2
        else:
            delta = c_mean - mean
            total = count + n
            mean = mean + delta * (n / total)
            m2 = m2 + c_m2 + delta**2 * (count * n / total)
            count = total
    mean = mean * unit
    std = torch.sqrt(m2 / max(count, 1)) * unit
    # Constant features/channels (spread at rounding level relative to the
    # mean): leave them centred, unscaled. Image channels are standardised in
    # float32 after the [0, 1] mapping (``after_augment``): a spread below
    # 1e-6 there is below float32's resolution near 1 (and may underflow to
    # 0 in float32, which divided by would give NaN), so it counts as constant.
    floor = 1e-6 if pre.is_image else 0.0
    std = torch.where((std > floor) & (std > 1e-10 * mean.abs()), std, torch.ones_like(std))
    pre.mean.copy_(mean.view_as(pre.mean))
    pre.std.copy_(std.view_as(pre.std))
    return pre
