"""The pruner: pattern invariants after squash_mask, exact zeros, schedules, bad input."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch import nn

from spiree.mlir_passes import pattern
from spiree.pipeline.prune import (Cubic, GroupSparsifier, OneShot, PruneOptions, global_sparsities, prune,
                                   prune_model)
from spiree.pipeline.prune.masks import kept_positions


def w2d(m: nn.Module) -> np.ndarray:
    w = m.weight.detach().numpy()
    return w.reshape(w.shape[0], -1)


def layer(kind: str, c_out: int, c_in: int, k: int = 3) -> nn.Module:
    if kind == "linear":
        return nn.Linear(c_in, c_out)
    if kind == "conv1x1":
        return nn.Conv2d(c_in, c_out, 1)
    return nn.Conv2d(c_in, c_out, k, padding=k // 2)


def one_layer_net(kind: str, c_out: int, c_in: int, k: int = 3, seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(layer(kind, c_out, c_in, k))


@settings(max_examples=60, deadline=None)
@given(kind=st.sampled_from(["conv1x1", "conv", "linear"]), group=st.sampled_from(pattern.SUPPORTED_GROUPS),
       c_out=st.integers(1, 40), c_in=st.integers(1, 24), k=st.sampled_from([1, 3, 5]),
       sparsity=st.floats(0.0, 0.95), balanced=st.booleans(), seed=st.integers(0, 2**16))
def test_pattern_holds_after_squash(kind, group, c_out, c_in, k, sparsity, balanced, seed):
    net = one_layer_net(kind, c_out, c_in, k, seed)
    sp = GroupSparsifier(sparsity=sparsity, group=group, balanced=balanced)
    model = sp.prepare(net, ["0"])
    sp.step()
    model = sp.squash_mask()
    m = model[0]
    assert type(m) in (nn.Linear, nn.Conv2d) and not hasattr(m, "parametrizations")  # a plain module again
    w = w2d(m)
    p = w.shape[1]
    assert pattern.holds(w, group)
    pat = pattern.pattern_of(w, group)
    if balanced:
        assert pat.balanced and set(pat.k_per_group) == {kept_positions(p, sparsity)}
        # exact fraction of zeros: every group keeps K of P positions, the weights are nonzero
        assert (w == 0).sum() == c_out * (p - kept_positions(p, sparsity))
    else:
        ng = pattern.num_groups(c_out, group)
        pairs = ng * p - max(1, ng * p - int(sparsity * ng * p + 0.5))
        assert (pattern.kept_mask(w, group) == 0).sum() == pairs  # exact (group, position) pairs removed
    assert np.array_equal(w != 0, np.repeat(pattern.kept_mask(w, group), group, axis=0)[:c_out])


@pytest.mark.parametrize("group", pattern.SUPPORTED_GROUPS)
@pytest.mark.parametrize("kind", ["conv1x1", "conv", "linear"])
@pytest.mark.parametrize("sparsity", [0.0, 0.5, 0.75, 0.9])
def test_exact_fraction_of_zeros(kind, group, sparsity):
    net = one_layer_net(kind, 24, 40 if kind != "conv" else 8)  # P = 40, 72, 40
    out = prune_model(net, sparsity=sparsity, group=group, config=["0"])
    w = w2d(out[0])
    p = w.shape[1]
    assert (w == 0).mean() == pytest.approx(round(sparsity * p) / p, abs=1e-12)
    assert pattern.detect(w, (group,)).group == group and pattern.holds(w, group)


def test_c_out_not_divisible_by_group():
    net = one_layer_net("conv1x1", 13, 32)  # groups of 8: 8 + 5
    out = prune_model(net, sparsity=0.75, group=8)
    w = w2d(out[0])
    pat = pattern.pattern_of(w, 8)
    assert pattern.holds(w, 8) and pat.k_per_group == (8, 8) and pat.balanced
    values, indices = pattern.pack(w, 8)
    assert values.shape == (2, 8, 8) and np.array_equal(pattern.unpack(values, indices, 13, 32), w)


def test_keeps_the_largest_group_magnitudes():
    net = nn.Sequential(nn.Linear(32, 4, bias=False))
    with torch.no_grad():
        net[0].weight.copy_(torch.arange(32.0).repeat(4, 1) + 1)  # position p has magnitude p + 1
    out = prune_model(net, sparsity=0.75, group=4)
    assert np.flatnonzero(w2d(out[0])[0]).tolist() == list(range(24, 32))


def test_model_is_copied_unless_inplace():
    net = one_layer_net("conv1x1", 16, 32)
    before = net[0].weight.detach().clone()
    out = prune_model(net, sparsity=0.5, group=4)
    assert out is not net and torch.equal(net[0].weight, before)
    sp = GroupSparsifier(sparsity=0.5)
    prepared = sp.prepare(net)
    assert prepared is not net and not hasattr(net[0], "parametrizations")
    same = prune_model(net, sparsity=0.5, group=4, inplace=True)
    assert same is net and (net[0].weight == 0).float().mean() == 0.5


def test_masks_are_parametrizations_and_gradients_respect_them():
    net = one_layer_net("conv1x1", 8, 32)
    sp = GroupSparsifier(sparsity=0.5, group=4)
    model = sp.prepare(net)
    assert nn.utils.parametrize.is_parametrized(model[0], "weight")
    sp.step()
    model(torch.randn(2, 32, 4, 4)).sum().backward()
    grad = model[0].parametrizations.weight.original.grad
    mask = model[0].parametrizations.weight[0].mask
    assert torch.all(grad[mask == 0] == 0) and torch.any(grad[mask == 1] != 0)
    assert set(model.state_dict()) >= {"0.parametrizations.weight.original", "0.parametrizations.weight.0.mask"}


def test_deterministic():
    from spiree.models.registry import load_model, parse_model_source

    net = load_model(parse_model_source("tiny_cnn")).module
    a = prune_model(net, sparsity=0.7, group=4, rearrange=True)
    b = prune_model(net, sparsity=0.7, group=4, rearrange=True)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)


def test_default_layers_skip_depthwise_and_tiny_stem():
    from spiree.models.mobilenet_v1 import MobileNetV1

    net = MobileNetV1(width=1.0)
    r = prune(net, PruneOptions(0.5, 4))
    names = [l["name"] for l in r.layers]
    pointwise = [f"features.{i}.1.0" for i in range(1, 14)]
    assert names == pointwise + ["classifier"]  # stem (27 positions) and depthwise stay dense
    mods = dict(r.model.named_modules())
    assert (mods["features.0.0"].weight != 0).all() and (mods["features.1.0.0"].weight != 0).all()
    r = prune(net, PruneOptions(0.5, 4), config=["features.0.0"])  # named: pruned although small
    w = w2d(dict(r.model.named_modules())["features.0.0"])
    assert pattern.holds(w, 4) and (w == 0).sum() == 32 * (27 - kept_positions(27, 0.5))


def test_default_layers_prune_narrow_pointwise_but_not_a_small_kxk():
    """A 1x1 layer with 16 input channels (MobileNetV2's first expansion) and a Linear with 10
    inputs are pruned; a 3x3 conv with 3 input channels (27 positions) is not."""
    net = nn.Sequential(nn.Conv2d(3, 16, 3), nn.Conv2d(16, 96, 1), nn.Conv2d(96, 24, 1), nn.Flatten(),
                        nn.LazyLinear(10))
    net(torch.randn(1, 3, 8, 8))
    net = nn.Sequential(*list(net)[:4], nn.Linear(24 * 36, 10))
    r = prune(net, PruneOptions(0.9, 4))
    assert [l["name"] for l in r.layers] == ["1", "2", "4"]
    mods = dict(r.model.named_modules())
    assert (mods["0"].weight != 0).all()
    w = w2d(mods["1"])
    assert pattern.holds(w, 4) and (w == 0).sum() == 96 * (16 - kept_positions(16, 0.9))


def test_per_layer_overrides():
    net = nn.Sequential(nn.Conv2d(32, 16, 1), nn.Conv2d(16, 8, 3))
    sp = GroupSparsifier(sparsity=0.5, group=4)
    model = sp.prepare(net, [{"tensor_fqn": "0.weight", "sparsity": 0.75, "group": 8},
                             {"module_fqn": "1", "balanced": False}])
    sp.step()
    model = sp.squash_mask()
    w0, w1 = w2d(model[0]), w2d(model[1])
    assert pattern.holds(w0, 8) and (w0 == 0).mean() == 0.75
    assert pattern.holds(w1, 4) and (pattern.kept_mask(w1, 4) == 0).sum() == round(0.5 * 2 * 144)


@pytest.mark.parametrize("schedule, steps", [(OneShot(), 1), (Cubic(5), 5), (Cubic(3, initial=0.2), 3)])
def test_schedule_reaches_target(schedule, steps):
    net = one_layer_net("conv1x1", 16, 64)
    sp = GroupSparsifier(sparsity=0.8, group=4, schedule=schedule)
    model = sp.prepare(net)
    seen = []
    for _ in range(steps + 2):
        sp.step()
        seen.append(float((model[0].weight == 0).float().mean()))
    assert seen == sorted(seen)  # never less sparse than before
    assert seen[steps - 1] == pytest.approx(1 - kept_positions(64, 0.8) / 64) and seen[-1] == seen[steps - 1]
    if steps > 1:
        assert 0 < seen[0] < seen[steps - 1]


def test_cubic_formula():
    c = Cubic(10)
    assert c(0, 0.9) == 0.0 and c(10, 0.9) == pytest.approx(0.9) and c(20, 0.9) == pytest.approx(0.9)
    assert c(5, 0.9) == pytest.approx(0.9 * (1 - 0.5 ** 3))


def test_gradual_pruning_never_revives_weights():
    net = one_layer_net("conv1x1", 16, 64)
    sp = GroupSparsifier(sparsity=0.9, group=4, schedule=Cubic(4))
    model = sp.prepare(net)
    prev = None
    for _ in range(4):
        sp.step()
        with torch.no_grad():  # training moves the surviving weights
            model[0].parametrizations.weight.original.mul_(torch.rand(16, 64, 1, 1) + 0.5)
        zero = model[0].weight == 0
        if prev is not None:
            assert torch.all(zero[prev])
        prev = zero


def test_global_ranking_floor_is_one_position_for_narrow_layers():
    """A layer of 8 positions cannot go below one kept position per group (1/8 > 5%): it gets
    exactly 1/8, and the rest of the budget goes to the others, so the overall fraction removed
    is still the target."""
    torch.manual_seed(0)
    narrow = torch.randn(32, 8) * 0.01  # small weights: ranked last
    wide = torch.randn(64, 256)
    s = global_sparsities([(narrow, 4), (wide, 4)], 0.9, 0.05)
    assert s[0] == pytest.approx(1 - 1 / 8)
    kept = (1 - s[0]) * narrow.numel() + (1 - s[1]) * wide.numel()
    assert kept == pytest.approx(0.1 * (narrow.numel() + wide.numel()), abs=4)


def test_global_ranking_with_floor():
    torch.manual_seed(0)
    big = torch.randn(64, 256) * 0.01  # small weights: a global ranking removes these first
    small = torch.randn(16, 64)
    s = global_sparsities([(big, 4), (small, 4)], 0.9, 0.05)
    assert s[0] == pytest.approx(0.95) and s[1] < 0.15  # floor: the big layer keeps 5%
    kept = (1 - s[0]) * big.numel() + (1 - s[1]) * small.numel()
    assert kept == pytest.approx(0.1 * (big.numel() + small.numel()), abs=4)  # the rest goes to `small`
    assert global_sparsities([(big, 4), (small, 4)], 0.8, 0.05)[0] == pytest.approx(1 - 2457 / 16384, abs=1e-3)
    net = nn.Sequential(nn.Linear(256, 64), nn.Linear(64, 16))
    with torch.no_grad():
        net[0].weight.copy_(big)
        net[1].weight.copy_(small)
    out = prune_model(net, sparsity=0.9, group=4, ranking="global")
    assert (w2d(out[0]) == 0).mean() == pytest.approx(1 - kept_positions(256, 0.95) / 256)
    assert pattern.holds(w2d(out[0]), 4) and pattern.holds(w2d(out[1]), 4)


class DepthwiseOnly(nn.Module):
    def __init__(self):
        super().__init__()
        self.dw = nn.Conv2d(8, 8, 3, groups=8)

    def forward(self, x):
        return self.dw(x)


@pytest.mark.parametrize("make, message", [
    (lambda: GroupSparsifier(sparsity=1.0), "sparsity 1.0 is outside [0, 1): it is the fraction of weights removed, e.g. 0.7"),
    (lambda: GroupSparsifier(sparsity=-0.1), "sparsity -0.1 is outside [0, 1): it is the fraction of weights removed, e.g. 0.7"),
    (lambda: GroupSparsifier(group=3), "group size G=3 is not supported: choose one of 1, 2, 4, 8"),
    (lambda: GroupSparsifier(group=16), "group size G=16 is not supported: choose one of 1, 2, 4, 8"),
    (lambda: GroupSparsifier(ranking="random"), "ranking 'random' is not supported: choose one of layer, global"),
    (lambda: GroupSparsifier().prepare(nn.Sequential(nn.Conv2d(32, 8, 1)), ["features.9"]),
     "no layer 'features.9' in the model: name one of its Conv2d (groups=1) or Linear modules, e.g. '0' (1 in all)"),
    (lambda: GroupSparsifier().prepare(DepthwiseOnly(), ["dw"]),
     "layer 'dw' is a depthwise convolution (groups=8): depthwise convolutions stay dense, prune the 1x1 convolutions around it"),
    (lambda: GroupSparsifier().prepare(DepthwiseOnly()),
     "the model has no prunable layers: spiree prunes 1x1 Conv2d and Linear layers, and KxK Conv2d "
     "(groups=1) with at least 32 positions (input channels x kernel area); depthwise convolutions stay dense"),
    (lambda: GroupSparsifier().prepare(nn.Sequential(nn.Conv2d(32, 8, 1)), [{"module_fqn": "0", "sparsty": 0.5}]),
     "unknown config key(s) 'sparsty': a layer entry takes module_fqn, tensor_fqn, sparsity, group, balanced"),
    (lambda: GroupSparsifier().prepare(nn.Sequential(nn.Conv2d(32, 8, 1)), [{"module_fqn": "0", "group": 5}]),
     "group size G=5 is not supported: choose one of 1, 2, 4, 8"),
    (lambda: prune_model(nn.Sequential(nn.Conv2d(32, 8, 1)), sparsity=0.95, group=8, config=[{"module_fqn": "0", "sparsity": 2}]),
     "sparsity 2 is outside [0, 1): it is the fraction of weights removed, e.g. 0.7"),
])
def test_bad_input_raises_one_clear_error(make, message):
    with pytest.raises(ValueError) as e:
        make()
    assert str(e.value) == message


def test_step_before_prepare():
    with pytest.raises(RuntimeError, match=r"call prepare\(model\) before step\(\)"):
        GroupSparsifier().step()
