"""Networks of C2BIN: backbones, heads and the online/target networks."""

from .backbones import MLPBackbone, SmallCNN, cifar_resnet18, build_backbone
from .build import build_network
from .heads import ClusterHead, MLPHead
from .model import C2BINNetwork, TargetNetwork, TwoViewForward

__all__ = [
    "MLPBackbone",
    "SmallCNN",
    "cifar_resnet18",
    "build_backbone",
    "build_network",
    "MLPHead",
    "ClusterHead",
    "C2BINNetwork",
    "TargetNetwork",
    "TwoViewForward",
]
