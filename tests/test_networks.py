"""Backbones, heads and the online/target networks."""

import pytest
import torch
import torchvision.models  # noqa: F401  (~1 s first import: paid at collection, not in a test)
from torch import nn

from skc2bin.networks import (
    C2BINNetwork,
    ClusterHead,
    MLPBackbone,
    MLPHead,
    SmallCNN,
    TargetNetwork,
    build_backbone,
)
from skc2bin.preprocessing import Preprocessor


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


# ------------------------------------------------------------------ SmallCNN
# (side, average-pool factor, working side, conv-pool stages)
@pytest.mark.parametrize(
    "size, factor, working, stages",
    [(5, 1, 5, 1), (8, 1, 8, 1), (12, 1, 12, 2), (13, 2, 7, 1), (16, 2, 8, 1), (28, 3, 10, 2),
     (32, 3, 11, 2), (64, 6, 11, 2)],
)
def test_small_cnn_pools_large_images_to_the_working_size(size, factor, working, stages):
    net = SmallCNN(1, (size, size), out_dim=16, width=4)
    assert net.pool_factor == factor
    assert net.n_stages == stages
    assert sum(isinstance(m, nn.MaxPool2d) for m in net) == stages
    pools = [m for m in net if isinstance(m, nn.AvgPool2d)]
    assert len(pools) == (factor > 1)
    x = torch.rand((3, 1, size, size), generator=_gen())
    if pools:
        assert pools[0](x).shape[-2:] == (working, working)
    assert net(x).shape == (3, 16)
    assert net.out_dim == 16


def test_small_cnn_working_size_is_adjustable():
    net = SmallCNN(1, (32, 32), out_dim=16, width=4, working_size=32)
    assert net.pool_factor == 1 and net.n_stages == 3


def test_small_cnn_three_channels_and_non_square():
    # The longer side sets the pooling (16 -> 8), the shorter one the stages (6 -> 3).
    net = SmallCNN(3, (16, 12), out_dim=10, width=4)
    assert net.pool_factor == 2 and net.n_stages == 1
    assert net(torch.rand((2, 3, 16, 12), generator=_gen())).shape == (2, 10)


# -------------------------------------------------------------- MLPs and heads
def test_mlp_backbone_output_shape():
    net = MLPBackbone(5, 16, 7)
    assert net.out_dim == 7
    assert net(torch.randn((4, 5), generator=_gen())).shape == (4, 7)


def test_mlp_head_output_shape():
    head = MLPHead(7, 16, 3)
    assert head(torch.randn((4, 7), generator=_gen())).shape == (4, 3)


def test_cluster_head_rows_are_probabilities():
    head = ClusterHead(6, 4)
    p = head(10 * torch.randn((9, 6), generator=_gen()))
    assert p.shape == (9, 4)
    assert head.n_clusters == 4
    assert torch.all(p >= 0)
    assert torch.allclose(p.sum(dim=1), torch.ones(9), atol=1e-6)


# -------------------------------------------------------------- build_backbone
def test_build_backbone_auto_vectors_is_mlp():
    net, dim = build_backbone("auto", (5,), representation_size=8, hidden_size=16)
    assert isinstance(net, MLPBackbone) and dim == 8
    assert net(torch.randn((3, 5), generator=_gen())).shape == (3, 8)


def test_build_backbone_auto_images_is_cnn():
    net, dim = build_backbone("auto", (1, 8, 8), representation_size=8, hidden_size=16)
    assert isinstance(net, SmallCNN) and dim == 8
    assert net(torch.rand((3, 1, 8, 8), generator=_gen())).shape == (3, 8)


def test_build_backbone_mlp_on_images_flattens():
    net, dim = build_backbone("mlp", (3, 4, 4), representation_size=8, hidden_size=16)
    assert dim == 8 and net.out_dim == 8
    assert net(torch.rand((3, 3, 4, 4), generator=_gen())).shape == (3, 8)


@pytest.mark.parametrize("spec", ["cnn", "resnet18"])
def test_build_backbone_image_backbone_on_vectors_raises(spec):
    with pytest.raises(ValueError, match="image_shape"):
        build_backbone(spec, (5,), representation_size=8, hidden_size=16)


def test_build_backbone_resnet18():
    net, dim = build_backbone("resnet18", (3, 32, 32), representation_size=8, hidden_size=16)
    assert dim == 512
    net.eval()
    with torch.no_grad():
        out = net(torch.rand((2, 3, 32, 32), generator=_gen()))
    assert out.shape == (2, 512)


def test_build_backbone_user_module_width_is_measured():
    module = nn.Sequential(nn.Flatten(), nn.Linear(64, 7))
    net, dim = build_backbone(module, (1, 8, 8), representation_size=8, hidden_size=16)
    assert net is module and dim == 7


def test_build_backbone_user_module_restores_training_mode():
    module = nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4))
    module.train()
    build_backbone(module, (5,), representation_size=8, hidden_size=16)
    assert module.training
    module.eval()
    build_backbone(module, (5,), representation_size=8, hidden_size=16)
    assert not module.training


def test_build_backbone_user_module_with_4d_output_raises():
    module = nn.Conv2d(1, 2, kernel_size=3, padding=1)
    with pytest.raises(ValueError, match="Flatten"):
        build_backbone(module, (1, 8, 8), representation_size=8, hidden_size=16)


def test_build_backbone_user_module_that_crashes_names_the_shape():
    module = nn.Linear(10, 3)  # cannot take 64-wide rows
    with pytest.raises(ValueError, match=r"\(n, 1, 8, 8\)"):
        build_backbone(module, (1, 8, 8), representation_size=8, hidden_size=16)


# ------------------------------------------------------- online/target networks
def _network(d=5, n_clusters=(3, 5)):
    backbone, rep = build_backbone("mlp", (d,), representation_size=8, hidden_size=16)
    return C2BINNetwork(backbone, rep, 6, 16, n_clusters, Preprocessor("vector", (d,)))


def test_c2bin_network_forward_shapes():
    net = _network()
    x = torch.randn((4, 5), generator=_gen())
    out = net(x)
    assert len(out) == 3
    y, p3, p5 = out
    assert y.shape == (4, 8)
    assert p3.shape == (4, 3) and p5.shape == (4, 5)
    assert torch.allclose(p3.sum(1), torch.ones(4), atol=1e-6)
    assert torch.allclose(p5.sum(1), torch.ones(4), atol=1e-6)


def test_c2bin_network_views_forward_shapes():
    net = _network()
    pred, assigns = net.views_forward(torch.randn((4, 5), generator=_gen()))
    assert pred.shape == (4, 6)
    assert [a.shape for a in assigns] == [(4, 3), (4, 5)]


def test_c2bin_network_n_init_trains_several_heads_and_infers_with_the_selected_ones():
    backbone, rep = build_backbone("mlp", (5,), representation_size=8, hidden_size=16)
    net = C2BINNetwork(backbone, rep, 6, 16, (3, 5), Preprocessor("vector", (5,)), n_init=2)
    net.eval()
    x = torch.randn((4, 5), generator=_gen())
    _, assigns = net.views_forward(x)
    assert [a.shape[1] for a in assigns] == [3, 3, 5, 5]
    assert net.selected.tolist() == [0, 2]  # first head of each scale until selection
    # Per scale, the lowest loss wins: head 1 at scale 3, head 2 (first) at scale 5.
    net.select_heads(torch.tensor([0.9, 0.1, 0.2, 0.3]))
    assert net.selected.tolist() == [1, 2]
    y, p3, p5 = net(x)
    assert torch.equal(p3, net.heads[1](y)) and torch.equal(p5, net.heads[2](y))
    # The selection is state: it travels with the weights.
    assert torch.equal(net.state_dict()["selected"], torch.tensor([1, 2]))


def test_target_network_is_a_frozen_copy():
    net = _network()
    target = TargetNetwork.from_online(net)
    online = list(net.online_target_pair().parameters())
    frozen = list(target.parameters())
    assert len(online) == len(frozen) > 0
    online_ids = {id(p) for p in net.parameters()}
    for o, t in zip(online, frozen):
        assert t.shape == o.shape
        assert torch.equal(t, o)
        assert id(t) not in online_ids
        assert t.data_ptr() != o.data_ptr()
        assert not t.requires_grad
    # The online network is still trainable.
    assert all(p.requires_grad for p in net.parameters())


def test_target_forward_matches_online_projection_at_copy_time():
    net = _network().eval()
    target = TargetNetwork.from_online(net).eval()
    v = torch.randn((4, 5), generator=_gen())
    with torch.no_grad():
        assert torch.allclose(target(v), net.projector(net.backbone(v)))


def test_online_target_pair_lines_up_with_target_parameters():
    net = _network()
    target = TargetNetwork.from_online(net)
    pair = list(net.online_target_pair().named_parameters())
    tgt = list(target.named_parameters())
    assert len(pair) == len(tgt)
    for (n_o, p_o), (n_t, p_t) in zip(pair, tgt):
        assert p_o.shape == p_t.shape
        # "0.x" <-> "backbone.x", "1.x" <-> "projector.x"
        prefix = {"0": "backbone", "1": "projector"}[n_o.split(".", 1)[0]]
        assert n_t == prefix + "." + n_o.split(".", 1)[1]
    # Buffers (BatchNorm statistics) line up too, for ema_update's copy.
    buf_o = list(net.online_target_pair().buffers())
    buf_t = list(target.buffers())
    assert [b.shape for b in buf_o] == [b.shape for b in buf_t]


def test_mlp_layers_builds_linear_bn_relu_stacks():
    from skc2bin.networks.blocks import mlp_layers

    layers = mlp_layers([5, 7, 6, 3])
    assert [type(m).__name__ for m in layers] == [
        "Linear", "BatchNorm1d", "ReLU", "Linear", "BatchNorm1d", "ReLU", "Linear"]
    assert [(m.in_features, m.out_features) for m in layers if isinstance(m, torch.nn.Linear)] == [
        (5, 7), (7, 6), (6, 3)]
    assert [type(m).__name__ for m in mlp_layers([4, 2])] == ["Linear"]
    with pytest.raises(ValueError, match="input and an output"):
        mlp_layers([4])


def test_backbone_and_heads_keep_their_parameter_names():
    """Saved model files name parameters by position; the shared builder must
    keep the layout of the MLP backbone and heads."""
    from skc2bin.networks import ClusterHead, MLPBackbone, MLPHead

    assert list(MLPBackbone(4, 8, 2).state_dict())[:3] == ["0.weight", "0.bias", "1.weight"]
    assert "6.weight" in MLPBackbone(4, 8, 2).state_dict()
    assert "3.weight" in MLPHead(4, 8, 2).state_dict()
    assert "mlp.3.weight" in ClusterHead(4, 3).state_dict()
