"""Backbones ``f``: input -> representation ``y`` of width ``out_dim``.

Every built-in backbone exposes ``out_dim``; a user's ``torch.nn.Module`` gets
its width measured by :func:`representation_dim`.
"""

import math

import torch
from torch import nn

from .blocks import mlp_layers

__all__ = ["MLPBackbone", "SmallCNN", "cifar_resnet18", "build_backbone", "representation_dim"]


class MLPBackbone(nn.Sequential):
    """Feature-vector backbone: two ``Linear -> BatchNorm -> ReLU`` blocks and a
    linear output layer.

    Parameters
    ----------
    in_dim : int
        Number of input features.
    hidden_dim : int
        Width of the two hidden layers.
    out_dim : int
        Width of the representation.
    """

    def __init__(self, in_dim, hidden_dim, out_dim):
        super().__init__(*mlp_layers([in_dim, hidden_dim, hidden_dim, out_dim]))
        self.out_dim = out_dim


def _conv_bn_relu(c_in, c_out):
    return [
        nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    ]


class SmallCNN(nn.Sequential):
    """A small CNN for small images that works at a capped resolution.

    Images whose longer side exceeds ``working_size`` are first average-pooled
    by the smallest integer factor that brings that side to at most
    ``working_size`` (a fixed low-pass filter: 16×16 -> 8×8, 28×28 -> 10×10,
    32×32 -> 11×11). Then a 3×3 stem, one ``conv -> max-pool`` stage per
    halving needed to bring the feature map down to at most 4×4, a last 3×3
    convolution of ``out_dim`` channels and global average pooling.

    Why the cap: with 3×3 kernels at full resolution the network learns fine
    local features that solve the instance task but cluster badly. On digits
    upscaled to 16×16 (the same information as 8×8), convolving at 16×16
    gave ACC 0.72–0.75 with or without an extra stage, max- or average-pooled,
    with stronger augmentation or a learned stride-2 stem (0.85), although
    k-NN accuracy of its embeddings was 0.96; pooling to 8×8 first gave 0.97
    after 20 epochs, at a quarter of the cost. ``benchmarks/quality.py`` and
    ``docs/method.md`` hold the measurements.

    Parameters
    ----------
    in_channels : int
    image_size : tuple of int
        ``(height, width)`` of the inputs.
    out_dim : int
        Channels of the last convolution = width of the representation.
    width : int, default=32
        Channels of the stem; each stage doubles it, up to ``out_dim``.
    working_size : int, default=12
        Longest side the convolutions see. Pass a larger value (a module
        built with it, as ``backbone``) to keep fine detail at a higher cost.
    """

    def __init__(self, in_channels, image_size, out_dim, width=32, working_size=12):
        self.pool_factor = max(1, math.ceil(max(image_size) / working_size))
        size = min(math.ceil(side / self.pool_factor) for side in image_size)
        layers = []
        if self.pool_factor > 1:
            layers.append(nn.AvgPool2d(self.pool_factor, ceil_mode=True))
        n_stages = 0
        while size > 4:
            size = math.ceil(size / 2)
            n_stages += 1
        layers += _conv_bn_relu(in_channels, width)
        c = width
        for _ in range(n_stages):
            c_next = min(c * 2, max(out_dim, width))
            layers += _conv_bn_relu(c, c_next)
            layers.append(nn.MaxPool2d(2, ceil_mode=True))
            c = c_next
        layers += _conv_bn_relu(c, out_dim)
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        super().__init__(*layers)
        self.out_dim = out_dim
        self.n_stages = n_stages


def cifar_resnet18(in_channels=3):
    """ResNet-18 with the CIFAR stem (3×3 convolution, stride 1, no max-pool).

    Returns the network without its classifier: the output is the 512-wide
    pooled representation (``out_dim = 512``).
    """
    from torchvision.models import resnet18

    net = resnet18(weights=None)
    net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
    net.maxpool = nn.Identity()
    net.fc = nn.Identity()
    net.out_dim = 512
    return net


@torch.no_grad()
def representation_dim(backbone, sample_shape):
    """Width of ``backbone``'s output for inputs of ``sample_shape``.

    Runs two zero samples through the backbone in eval mode (on CPU, its
    training state restored afterwards).

    Raises
    ------
    ValueError
        If the backbone fails on such inputs or does not return a 2-D
        ``(n_samples, dim)`` tensor.
    """
    was_training = backbone.training
    backbone.eval()
    try:
        param = next(iter(backbone.parameters()), None)
        device = param.device if param is not None else "cpu"
        out = backbone(torch.zeros((2, *sample_shape), device=device))
    except Exception as exc:  # any failure of user code is reported alike
        raise ValueError(
            f"The backbone failed on inputs of shape (n, {', '.join(map(str, sample_shape))}): "
            f"{type(exc).__name__}: {exc}. A custom backbone must accept float tensors "
            "of that shape (channels first for images) and return (n, dim) features."
        ) from exc
    finally:
        backbone.train(was_training)
    if not isinstance(out, torch.Tensor) or out.ndim != 2:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(
            f"The backbone must return a 2-D (n_samples, dim) tensor; it returned {shape}. "
            "Add torch.nn.Flatten() (after pooling) at its end."
        )
    return int(out.shape[1])


def build_backbone(spec, sample_shape, representation_size, hidden_size):
    """Build the backbone named by ``spec`` for inputs of ``sample_shape``.

    Parameters
    ----------
    spec : {'auto', 'mlp', 'cnn', 'resnet18'} or torch.nn.Module
        ``'auto'`` picks ``'mlp'`` for feature vectors and ``'cnn'`` for
        images. A module is used as is (the caller passes a copy).
    sample_shape : tuple of int
        ``(n_features,)`` or ``(channels, height, width)``.
    representation_size, hidden_size : int
        Widths for the built-in backbones.

    Returns
    -------
    backbone : torch.nn.Module
    out_dim : int
    """
    is_image = len(sample_shape) == 3
    if isinstance(spec, nn.Module):
        return spec, representation_dim(spec, sample_shape)
    if spec == "auto":
        spec = "cnn" if is_image else "mlp"
    if spec == "mlp":
        in_dim = math.prod(sample_shape)
        net = MLPBackbone(in_dim, hidden_size, representation_size)
        if is_image:
            net = nn.Sequential(nn.Flatten(), net)
            net.out_dim = representation_size
        return net, representation_size
    if not is_image:
        raise ValueError(
            f"backbone={spec!r} needs images, but X holds feature vectors. Use "
            "backbone='mlp' (or 'auto'), or pass image_shape to read rows as images."
        )
    if spec == "cnn":
        net = SmallCNN(sample_shape[0], sample_shape[1:], representation_size)
        return net, net.out_dim
    if spec == "resnet18":
        net = cifar_resnet18(sample_shape[0])
        return net, net.out_dim
    raise ValueError(f"Unknown backbone {spec!r}.")  # guarded by parameter validation
