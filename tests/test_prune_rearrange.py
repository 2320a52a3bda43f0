"""Channel rearrangement: same function, more magnitude kept, channel spaces found right."""
import pytest
import torch
from torch import nn

from spiree.mlir_passes import pattern
from spiree.models.registry import load_model, parse_model_source
from spiree.pipeline.prune import PruneOptions, channel_spaces, group_channels, prune, rearrange_channels
from spiree.pipeline.prune.sparsifier import default_layers


def _model(name, **options):
    return load_model(parse_model_source(name, options=options))


@pytest.mark.parametrize("name, options, min_positions", [
    ("mobilenet_v1", {"resolution": 64}, 32),
    ("tiny_resnet", {}, 0),  # every 1x1 conv, so the residual space (stem + block1 + block2) is permuted
    ("tiny_cnn", {}, 0),
])
def test_rearranged_dense_model_computes_the_same_function(name, options, min_positions):
    lm = _model(name, **options)
    layers = default_layers(lm.module, min_positions)
    out, reports = rearrange_channels(lm.module, group=4, sparsity=0.7, layers=layers)
    assert any(r.permuted for r in reports)
    changed = [k for k, v in out.state_dict().items() if not torch.equal(v, lm.module.state_dict()[k])]
    assert changed  # weights really moved
    x = torch.randn(2, *lm.example_inputs[0].shape[1:], generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert (out(x) - lm.module(x)).abs().max() <= 1e-5
    for r in reports:
        assert r.energy_kept_after >= r.energy_kept_before


def test_residual_adds_share_one_permutation():
    spaces = channel_spaces(_model("tiny_resnet").module)
    by_producer = {tuple(s.producers): s for s in spaces}
    shared = by_producer[("stem.0", "block1.1.0", "block2.1.0")]
    assert not shared.frozen
    assert set(shared.carriers) >= {"stem.1", "block1.0.0", "block1.0.1", "block1.1.1", "block2.1.1", "down.0.0"}
    assert set(shared.consumers) == {"block1.1.0", "block2.1.0", "down.1.0"}
    assert by_producer[("classifier",)].frozen == ["network output"]


def test_unknown_ops_freeze_their_spaces():
    class Cat(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.c = nn.Conv2d(3, 8, 1), nn.Conv2d(3, 8, 1), nn.Conv2d(16, 4, 1)

        def forward(self, x):
            return self.c(torch.cat([self.a(x), self.b(x)], 1))

    spaces = {tuple(s.producers): s for s in channel_spaces(Cat())}
    assert spaces[("a",)].frozen and spaces[("b",)].frozen
    net = Cat()
    out, reports = rearrange_channels(net, group=4, sparsity=0.5, layers=["a", "b", "c"])
    assert reports == [] and all(torch.equal(v, net.state_dict()[k]) for k, v in out.state_dict().items())


def test_group_channels_finds_planted_groups():
    # 16 channels in 4 planted clusters (each cluster uses its own 4 of 16 positions), shuffled.
    gen = torch.Generator().manual_seed(0)
    profiles = torch.zeros(16, 16)
    for c in range(16):
        profiles[c, 4 * (c % 4):4 * (c % 4) + 4] = torch.rand(4, generator=gen) + 0.5
    perm = group_channels(profiles, 4)
    assert sorted(perm.tolist()) == list(range(16))
    for g in range(4):
        assert len({int(c) % 4 for c in perm[4 * g:4 * g + 4]}) == 1
    w = profiles[perm].sqrt().numpy()
    assert pattern.holds(w, 4)  # each group now shares exactly its cluster's positions


def test_rearrangement_keeps_more_magnitude_on_mobilenet():
    lm = _model("mobilenet_v1", width=0.5, resolution=64)
    for s in (0.5, 0.9):
        plain = prune(lm.module, PruneOptions(s, 4))
        arranged = prune(lm.module, PruneOptions(s, 4, rearrange=True))
        assert arranged.energy_kept > plain.energy_kept
        assert arranged.zeros == pytest.approx(plain.zeros)
