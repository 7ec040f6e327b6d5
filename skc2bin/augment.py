"""Batched data augmentation with per-sample random parameters.

Each augmentation is a callable ``aug(x, generator) -> x_aug`` that works on a
whole batch on whatever device the batch lives on, drawing every random
parameter per sample from the explicit ``torch.Generator`` it is given (so a
fit is reproducible without touching the global torch seed).

Why by hand: torchvision.transforms.v2 draws one set of parameters per call,
so a batch gets the *same* crop/rotation for every sample unless it is applied
sample by sample; kornia draws per sample but is an extra dependency and takes
no explicit generator. Geometry here is one ``affine_grid``/``grid_sample``
call per batch and colour operations are vectorised arithmetic, which is all
the method needs (see ``docs/method.md``).

Image batches are ``(n, channels, height, width)`` floats in ``[0, 1]``;
feature batches are ``(n, n_features)`` standardised floats.

The built-in augmentations are scikit-learn-style objects (``get_params``,
``set_params``, ``repr``, ``clone``), so
``C2BINClusterer(augmentation=GrayscaleAugment(rotation=25))`` prints its
settings, and ``GridSearchCV`` can search ``augmentation__rotation``. A
user's callable or ``torch.nn.Module`` (torchvision's ``transforms.v2``,
a kornia pipeline) is adapted by :class:`CallableAugmentation`.
"""

import copy
import inspect
import math

import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator

__all__ = [
    "FeatureAugment",
    "GrayscaleAugment",
    "ColorAugment",
    "CallableAugmentation",
    "BUILTIN_AUGMENTATIONS",
    "random_affine_matrices",
    "resolve_augmentation",
]


def _uniform(n, low, high, generator, device):
    return low + (high - low) * torch.rand(n, generator=generator, device=device)


def random_affine_matrices(n, *, rotation, scale, translate, generator, device,
                           flip_prob=0.0, aspect=(1.0, 1.0)):
    """Per-sample ``(n, 2, 3)`` matrices for :func:`torch.nn.functional.affine_grid`.

    The matrix maps output coordinates to input coordinates in the
    normalised ``[-1, 1]`` frame, so a ``scale`` above 1 zooms *out* (samples
    a larger area) and below 1 zooms in.

    Parameters
    ----------
    n : int
        Batch size.
    rotation : float
        Maximum absolute rotation, in degrees.
    scale : (float, float)
        Range of the sampling scale.
    translate : float
        Maximum absolute shift as a fraction of the image side.
    flip_prob : float, default=0.0
        Probability of a horizontal flip.
    aspect : (float, float), default=(1.0, 1.0)
        Range of the width/height ratio of the sampled area (log-uniform).
    """
    angle = _uniform(n, -rotation, rotation, generator, device) * (math.pi / 180.0)
    s = _uniform(n, scale[0], scale[1], generator, device)
    log_ratio = _uniform(n, math.log(aspect[0]), math.log(aspect[1]), generator, device)
    ratio = torch.exp(log_ratio)
    sx, sy = s * torch.sqrt(ratio), s / torch.sqrt(ratio)
    flip = torch.rand(n, generator=generator, device=device) < flip_prob
    sx = torch.where(flip, -sx, sx)
    tx = _uniform(n, -2 * translate, 2 * translate, generator, device)
    ty = _uniform(n, -2 * translate, 2 * translate, generator, device)
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack(
        [
            torch.stack([cos * sx, -sin * sy, tx], dim=1),
            torch.stack([sin * sx, cos * sy, ty], dim=1),
        ],
        dim=1,
    )
    return theta


def _warp(x, theta, padding_mode):
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode=padding_mode, align_corners=False)


def _per_sample(n, generator, device, low, high):
    return _uniform(n, low, high, generator, device).view(n, 1, 1, 1)


class GrayscaleAugment(BaseEstimator):
    """Small grayscale images (digits-like): random affine, brightness, noise.

    No flips: handwriting is not mirror-invariant.

    Parameters
    ----------
    rotation : float, default=15
        Maximum rotation in degrees.
    scale : (float, float), default=(0.85, 1.15)
        Range of the zoom factor.
    translate : float, default=0.12
        Maximum shift as a fraction of the side.
    brightness : float, default=0.2
        Intensities are multiplied by a factor in ``[1 - b, 1 + b]``.
    noise : float, default=0.03
        Standard deviation of added Gaussian noise (images are in ``[0, 1]``).
    """

    def __init__(self, rotation=15.0, scale=(0.85, 1.15), translate=0.12, brightness=0.2, noise=0.03):
        self.rotation = rotation
        self.scale = scale
        self.translate = translate
        self.brightness = brightness
        self.noise = noise

    def __call__(self, x, generator):
        n, device = x.shape[0], x.device
        # affine_grid's matrix maps output to input coordinates: zooming the
        # content by s means sampling with 1/s.
        theta = random_affine_matrices(
            n,
            rotation=self.rotation,
            scale=(1.0 / self.scale[1], 1.0 / self.scale[0]),
            translate=self.translate,
            generator=generator,
            device=device,
        )
        out = _warp(x, theta, padding_mode="zeros")
        out = out * _per_sample(n, generator, device, 1 - self.brightness, 1 + self.brightness)
        if self.noise > 0:
            out = out + self.noise * torch.randn(out.shape, generator=generator, device=device, dtype=out.dtype)
        return out.clamp_(0.0, 1.0)


_LUMA = (0.299, 0.587, 0.114)


def _gray(x):
    """Luma of RGB images ``(n, 3, h, w)`` as ``(n, 1, h, w)``."""
    w = x.new_tensor(_LUMA).view(1, 3, 1, 1)
    return (x * w).sum(dim=1, keepdim=True)


def _rotate_hue(x, turns):
    """Rotate hue by ``turns`` (fractions of a full turn, per sample) in YIQ space.

    A rotation of the chroma plane: the cheap, vectorised approximation of an
    HSV hue shift that torchvision's jitter performs pixel by pixel.
    """
    rgb2yiq = x.new_tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
    yiq2rgb = torch.linalg.inv(rgb2yiq)
    angle = turns.to(x.dtype) * 2 * math.pi
    cos, sin = torch.cos(angle), torch.sin(angle)
    one, zero = torch.ones_like(cos), torch.zeros_like(cos)
    rot = torch.stack(
        [torch.stack([one, zero, zero], 1), torch.stack([zero, cos, -sin], 1), torch.stack([zero, sin, cos], 1)],
        dim=1,
    )  # (n, 3, 3)
    mat = yiq2rgb @ rot @ rgb2yiq  # (n, 3, 3)
    return torch.einsum("nij,njhw->nihw", mat, x)


class ColorAugment(BaseEstimator):
    """Colour images: random resized crop, flip, colour jitter, grayscale.

    SimCLR/BYOL's recipe for small colour images, every parameter drawn per
    sample.

    Parameters
    ----------
    crop_scale : (float, float), default=(0.2, 1.0)
        Range of the cropped area as a fraction of the image.
    flip_prob : float, default=0.5
    jitter : (float, float, float, float), default=(0.4, 0.4, 0.4, 0.1)
        Brightness, contrast, saturation and hue strengths.
    jitter_prob : float, default=0.8
    grayscale_prob : float, default=0.2
    """

    def __init__(self, crop_scale=(0.2, 1.0), flip_prob=0.5, jitter=(0.4, 0.4, 0.4, 0.1),
                 jitter_prob=0.8, grayscale_prob=0.2):
        self.crop_scale = crop_scale
        self.flip_prob = flip_prob
        self.jitter = jitter
        self.jitter_prob = jitter_prob
        self.grayscale_prob = grayscale_prob

    def _crop_matrices(self, n, generator, device):
        # Side of the crop relative to the image: sqrt of the area fraction.
        area = _uniform(n, self.crop_scale[0], self.crop_scale[1], generator, device)
        log_r = _uniform(n, math.log(3 / 4), math.log(4 / 3), generator, device)
        r = torch.exp(log_r)
        sx = torch.sqrt(area * r).clamp(max=1.0)
        sy = torch.sqrt(area / r).clamp(max=1.0)
        # Centre anywhere that keeps the crop inside the image.
        tx = (1 - sx) * _uniform(n, -1, 1, generator, device)
        ty = (1 - sy) * _uniform(n, -1, 1, generator, device)
        flip = torch.rand(n, generator=generator, device=device) < self.flip_prob
        sx = torch.where(flip, -sx, sx)
        zero = torch.zeros_like(sx)
        return torch.stack([torch.stack([sx, zero, tx], 1), torch.stack([zero, sy, ty], 1)], 1)

    def __call__(self, x, generator):
        n, c, device = x.shape[0], x.shape[1], x.device
        out = _warp(x, self._crop_matrices(n, generator, device), padding_mode="border")
        b, co, s, h = self.jitter
        jit = (torch.rand(n, generator=generator, device=device) < self.jitter_prob).view(n, 1, 1, 1)
        one = torch.ones((n, 1, 1, 1), device=device, dtype=out.dtype)
        bf = torch.where(jit, _per_sample(n, generator, device, 1 - b, 1 + b), one)
        cf = torch.where(jit, _per_sample(n, generator, device, 1 - co, 1 + co), one)
        sf = torch.where(jit, _per_sample(n, generator, device, 1 - s, 1 + s), one)
        hf = torch.where(jit.view(n), _uniform(n, -h, h, generator, device), torch.zeros(n, device=device))
        out = (out * bf).clamp_(0, 1)
        gray = _gray(out) if c == 3 else out.mean(dim=1, keepdim=True)
        out = ((out - gray.mean(dim=(2, 3), keepdim=True)) * cf + gray.mean(dim=(2, 3), keepdim=True)).clamp_(0, 1)
        if c == 3:
            gray = _gray(out)
            out = ((out - gray) * sf + gray).clamp_(0, 1)
            out = _rotate_hue(out, hf).clamp_(0, 1)
            to_gray = (torch.rand(n, generator=generator, device=device) < self.grayscale_prob).view(n, 1, 1, 1)
            out = torch.where(to_gray, _gray(out).expand_as(out), out)
        return out


class FeatureAugment(BaseEstimator):
    """Feature vectors: SCARF-style corruption plus feature-scaled Gaussian noise.

    Each entry is, with probability ``corruption``, replaced by the same
    feature of another random row of the batch (so corrupted values stay on
    the feature's marginal distribution); then Gaussian noise of
    ``noise`` × the feature's batch standard deviation is added.

    Parameters
    ----------
    corruption : float, default=0.2
    noise : float, default=0.1
    """

    def __init__(self, corruption=0.2, noise=0.1):
        self.corruption = corruption
        self.noise = noise

    def __call__(self, x, generator):
        n, d = x.shape
        device = x.device
        donors = torch.randint(0, n, (n, d), generator=generator, device=device)
        mask = torch.rand((n, d), generator=generator, device=device) < self.corruption
        out = torch.where(mask, x.gather(0, donors), x)
        if self.noise > 0 and n > 1:
            spread = x.std(dim=0, keepdim=True)
            out = out + self.noise * spread * torch.randn((n, d), generator=generator, device=device, dtype=x.dtype)
        return out


def _identity(x, generator):
    return x


#: The library's augmentation classes by name (model files store them by name).
BUILTIN_AUGMENTATIONS = {cls.__name__: cls for cls in (FeatureAugment, GrayscaleAugment, ColorAugment)}


def _generator_mode(fn):
    """How ``fn`` takes the random generator: ``'keyword'`` (a parameter named
    ``generator``), ``'positional'`` (a second positional parameter; not for
    modules, whose second argument is rarely a generator) or ``None``."""
    target = fn.forward if isinstance(fn, torch.nn.Module) else fn
    try:
        params = inspect.signature(target).parameters
    except (TypeError, ValueError):  # builtins without a signature
        return None
    if "generator" in params:
        return "keyword"
    positional = [
        p for p in params.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
    ]
    if not isinstance(fn, torch.nn.Module) and (
        len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in positional)
    ):
        return "positional"
    return None


class CallableAugmentation:
    """A user's augmentation (callable or ``torch.nn.Module``) as ``aug(x, generator)``.

    * A callable or module that takes a ``generator`` keyword, or a plain
      callable with a second positional parameter, draws its randomness from
      the fit's generator: reproducible, and nothing global is touched.
    * Any other callable or module (torchvision's ``transforms.v2``, kornia)
      draws from torch's *global* generator. It is then called inside
      :func:`torch.random.fork_rng` with a seed drawn from the fit's
      generator, so fits stay reproducible and the caller's global random
      state is left as it was.

    A module is deep-copied and moved to the training device (the user's
    object is never modified). The output must be a tensor of the input's
    shape. Note that torchvision's transforms draw *one* set of parameters
    per call, i.e. per batch: every sample of a batch gets the same crop or
    rotation (the two views still differ); kornia's augmentations draw per
    sample.

    Parameters
    ----------
    fn : callable or torch.nn.Module
    device : str or torch.device, default='cpu'
    """

    def __init__(self, fn, device="cpu"):
        if isinstance(fn, torch.nn.Module):
            fn = copy.deepcopy(fn).to(device)
        self.fn = fn
        self.mode = _generator_mode(fn)

    def __call__(self, x, generator):
        if self.mode == "keyword":
            out = self.fn(x, generator=generator)
        elif self.mode == "positional":
            out = self.fn(x, generator)
        else:
            seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device).item())
            cuda = [x.device.index or 0] if x.device.type == "cuda" else []
            with torch.random.fork_rng(devices=cuda):
                torch.manual_seed(seed)
                out = self.fn(x)
        if not isinstance(out, torch.Tensor) or out.shape != x.shape:
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ValueError(
                f"The augmentation {self.fn!r} returned {got} for a batch of shape "
                f"{tuple(x.shape)}; it must return a tensor of the same shape (images as "
                "(n, channels, height, width) floats in [0, 1], vectors as (n, n_features))."
            )
        return out


def resolve_augmentation(spec, sample_shape, device="cpu"):
    """The augmentation callable for ``spec`` and inputs of ``sample_shape``.

    Parameters
    ----------
    spec : {'auto', 'features', 'grayscale', 'color', 'none'}, callable or torch.nn.Module
        ``'auto'`` picks ``'features'`` for vectors, ``'grayscale'`` for
        single-channel images and ``'color'`` otherwise. The built-in
        augmentation objects are used as they are; any other callable or
        module is adapted by :class:`CallableAugmentation`.
    sample_shape : tuple of int
        ``(n_features,)`` or ``(channels, height, width)``.
    device : str or torch.device, default='cpu'
        Training device (a module is moved there).

    Returns
    -------
    augment : callable
        ``augment(batch, generator) -> batch``.
    """
    if isinstance(spec, tuple(BUILTIN_AUGMENTATIONS.values())):
        return spec
    if callable(spec):
        return CallableAugmentation(spec, device)
    is_image = len(sample_shape) == 3
    if spec == "auto":
        spec = ("grayscale" if sample_shape[0] == 1 else "color") if is_image else "features"
    if spec == "none":
        return _identity
    if spec == "features":
        if is_image:
            raise ValueError(
                "augmentation='features' is for feature vectors, but X holds images. Use "
                "augmentation='grayscale', 'color' or 'auto'."
            )
        return FeatureAugment()
    if not is_image:
        raise ValueError(
            f"augmentation={spec!r} needs images, but X holds feature vectors. Use "
            "augmentation='features' (or 'auto'), or pass image_shape to read rows as images."
        )
    return GrayscaleAugment() if spec == "grayscale" else ColorAugment()
