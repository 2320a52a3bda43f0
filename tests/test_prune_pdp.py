"""PDPSparsifier: the pattern after squash_mask, the soft masks, and their schedule."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch import nn

from spiree.mlir_passes import pattern
from spiree.pipeline.prune import Cubic, GroupSparsifier
from spiree.pipeline.prune.masks import kept_positions, layer_mask
from spiree.pipeline.prune.pdp import (PDPSparsifier, Sharpen, group_mean_squares, soft_group_mask,
                                       temperature_steps, thresholds)


def w2d(m: nn.Module) -> np.ndarray:
    w = m.weight.detach().numpy()
    return w.reshape(w.shape[0], -1)


def net(kind: str, c_out: int, c_in: int, k: int = 3, seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    if kind == "linear":
        return nn.Sequential(nn.Linear(c_in, c_out))
    return nn.Sequential(nn.Conv2d(c_in, c_out, 1 if kind == "conv1x1" else k))


def perturb(model: nn.Module, seed: int) -> None:
    """What training does between steps: the weights move (the soft mask follows them)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        w = model[0].parametrizations.weight.original
        w.mul_(torch.rand(w.shape, generator=g) + 0.5)


@settings(max_examples=60, deadline=None)
@given(kind=st.sampled_from(["conv1x1", "conv", "linear"]), group=st.sampled_from(pattern.SUPPORTED_GROUPS),
       c_out=st.integers(1, 40), c_in=st.integers(1, 24), sparsity=st.floats(0.0, 0.95),
       balanced=st.booleans(), steps=st.integers(1, 4), extra=st.integers(0, 2), seed=st.integers(0, 2**16))
def test_pattern_after_squash(kind, group, c_out, c_in, sparsity, balanced, steps, extra, seed):
    """Whether squashed while soft or after hardening: exact zeros, G-sharing, balance."""
    model = net(kind, c_out, c_in, 3, seed)
    sp = PDPSparsifier(sparsity=sparsity, group=group, balanced=balanced, steps=steps)
    model = sp.prepare(model, ["0"])
    for i in range(steps + extra):
        sp.step()
        perturb(model, seed + i)
    model = sp.squash_mask()
    m = model[0]
    assert type(m) in (nn.Linear, nn.Conv2d) and not hasattr(m, "parametrizations")
    w = w2d(m)
    p = w.shape[1]
    assert pattern.holds(w, group)
    # G-sharing: a weight is nonzero exactly where its group keeps the position
    assert np.array_equal(w != 0, np.repeat(pattern.kept_mask(w, group), group, axis=0)[:c_out])
    s = Cubic(max(1, steps // 2))(steps + extra, sparsity)  # the schedule's target by now
    if balanced:
        pat = pattern.pattern_of(w, group)
        assert pat.balanced and set(pat.k_per_group) == {kept_positions(p, s)}
        assert (w == 0).sum() == c_out * (p - kept_positions(p, s))
    else:
        ng = pattern.num_groups(c_out, group)
        assert (pattern.kept_mask(w, group) == 0).sum() == ng * p - max(1, ng * p - int(s * ng * p + 0.5))


@pytest.mark.parametrize("group", pattern.SUPPORTED_GROUPS)
@pytest.mark.parametrize("sparsity", [0.5, 0.7, 0.9])
def test_exact_fraction_of_zeros_at_the_target(group, sparsity):
    model = net("conv1x1", 24, 40)
    sp = PDPSparsifier(sparsity=sparsity, group=group, steps=4)
    model = sp.prepare(model)
    for i in range(6):
        sp.step()
        perturb(model, i)
    w = w2d(sp.squash_mask()[0])
    assert (w == 0).mean() == pytest.approx(round(sparsity * 40) / 40, abs=1e-12)
    assert pattern.detect(w, (group,)).group == group and pattern.pattern_of(w, group).balanced


def test_c_out_not_divisible_by_group():
    model = net("conv1x1", 13, 32)  # groups of 8: 8 + 5
    sp = PDPSparsifier(sparsity=0.75, group=8, steps=2)
    model = sp.prepare(model)
    for _ in range(3):
        sp.step()
    w = w2d(sp.squash_mask()[0])
    assert pattern.holds(w, 8) and pattern.pattern_of(w, 8).k_per_group == (8, 8)


def test_soft_mask_is_shared_by_the_group_and_keeps_k_above_half():
    torch.manual_seed(0)
    w = torch.randn(10, 24)  # G=4: groups of 4, 4, 2
    for balanced in (True, False):
        m = soft_group_mask(w, 4, 0.75, 0.1, balanced=balanced)
        assert m.shape == w.shape and torch.all((m > 0) & (m <= 1))
        for rows in (slice(0, 4), slice(4, 8), slice(8, 10)):
            assert torch.all(m[rows] == m[rows][0])  # one mask row per group
        above = m[[0, 4, 8]] > 0.5
        if balanced:
            assert above.sum(dim=1).tolist() == [kept_positions(24, 0.75)] * 3
        else:
            assert int(above.sum()) == 3 * 24 - int(0.75 * 3 * 24 + 0.5)
        # monotone in the group score within a group (one threshold per group)
        s = group_mean_squares(w, 4)
        for g in range(3):
            order = torch.argsort(s[g])
            assert torch.all(torch.diff(m[4 * g][order]) >= 0)


def test_group_mean_squares_and_thresholds():
    w = torch.tensor([[1.0, 2.0, 3.0, 4.0], [1.0, 0.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0]])
    s = group_mean_squares(w, 2)  # groups: rows 0-1, row 2 alone
    assert torch.equal(s, torch.tensor([[1.0, 2.0, 9.0, 8.0], [4.0, 4.0, 4.0, 4.0]]))
    t = thresholds(s, 0.5, balanced=True)  # keep 2 of 4: halfway between the 2nd and 3rd largest
    assert torch.equal(t, torch.tensor([[5.0], [4.0]]))
    assert torch.equal(thresholds(s, 0.25, balanced=False), torch.tensor([[3.0]]))  # keep 6 of 8: (4 + 2) / 2
    assert thresholds(s, 0.0, balanced=True) is None


def test_soft_mask_hardens_to_the_magnitude_mask_as_tau_goes_to_zero():
    torch.manual_seed(1)
    w = torch.randn(16, 32)
    for balanced in (True, False):
        hard = layer_mask(w, 4, 0.8, balanced=balanced)
        soft = soft_group_mask(w, 4, 0.8, 1e-6, balanced=balanced)
        assert torch.equal((soft > 0.5).float(), hard)
        assert float((soft - hard).abs().max()) < 1e-3


def test_soft_masks_pass_gradients_to_masked_weights():
    """Differentiable: a weight below the threshold still gets a gradient (a hard mask gives 0)."""
    model = net("conv1x1", 8, 32)
    sp = PDPSparsifier(sparsity=0.75, group=4, steps=3)
    model = sp.prepare(model)
    sp.step()
    model(torch.randn(2, 32, 4, 4)).sum().backward()
    p = model[0].parametrizations.weight
    hard = p[0].mask
    assert torch.all(p.original.grad[hard == 0] != 0)
    # the same with a hard mask: no gradient where the mask is 0
    ref = net("conv1x1", 8, 32)
    gs = GroupSparsifier(sparsity=0.75, group=4)
    ref = gs.prepare(ref)
    gs.step()
    ref(torch.randn(2, 32, 4, 4)).sum().backward()
    assert torch.all(ref[0].parametrizations.weight.original.grad[ref[0].parametrizations.weight[0].mask == 0] == 0)


def test_sharpen_schedule():
    s = Sharpen(5, 0.5, 0.005)
    assert s(0) == 0.5 and s(1) == 0.5 and s(5) == pytest.approx(0.005) and s(6) == 0.0 and s(100) == 0.0
    assert s(3) == pytest.approx(0.05)  # geometric: the middle step is the geometric mean
    assert [s(t) for t in range(1, 6)] == sorted((s(t) for t in range(1, 6)), reverse=True)
    assert Sharpen(1, 0.5, 0.01)(1) == 0.01 and Sharpen(1)(2) == 0.0
    assert temperature_steps(15) == 10 and temperature_steps(1) == 1 and temperature_steps(12, 0.5) == 6


@pytest.mark.parametrize("make, message", [
    (lambda: Sharpen(0), "a sharpening schedule needs steps >= 1, got 0"),
    (lambda: Sharpen(3, 0.1, 0.5), "temperatures must satisfy 0 < end <= start, got start=0.1, end=0.5"),
    (lambda: PDPSparsifier(tau=(0.5, 0.0)), "temperatures must satisfy 0 < end <= start, got start=0.5, end=0.0"),
    (lambda: PDPSparsifier(group=3), "group size G=3 is not supported: choose one of 1, 2, 4, 8"),
    (lambda: PDPSparsifier(sparsity=1.0), "sparsity 1.0 is outside [0, 1): it is the fraction of weights removed, e.g. 0.7"),
])
def test_bad_input(make, message):
    with pytest.raises(ValueError) as e:
        make()
    assert str(e.value) == message


def test_schedule_sparsity_temperature_then_hard():
    """step() by step: the target follows Cubic(steps // 2), tau follows Sharpen, hard after `steps`."""
    model = net("conv1x1", 16, 64)
    sp = PDPSparsifier(sparsity=0.8, group=4, steps=4, tau=(0.4, 0.05))
    model = sp.prepare(model)
    pm = model[0].parametrizations.weight[0]
    seen = []
    for t in range(1, 7):
        sp.step()
        seen.append((pm.sparsity, pm.tau, pm.hard, sp.hard))
        if not pm.hard:  # soft: every weight still contributes
            assert torch.all(model[0].weight != 0)
        assert sp.report()[0]["sparsity"] == pytest.approx(Cubic(2)(t, 0.8))
    assert [s for s, *_ in seen] == pytest.approx([Cubic(2)(t, 0.8) for t in range(1, 7)])
    assert [tau for _, tau, *_ in seen[:4]] == pytest.approx([0.4, 0.2, 0.1, 0.05])
    assert [h for *_, h, _ in seen] == [False] * 4 + [True] * 2 and [h for *_, h in seen] == [False] * 4 + [True] * 2
    # once hard, forward() applies the hard mask: the weights at pruned positions are 0
    w = model[0].weight
    assert torch.equal(w == 0, pm.mask == 0)
    assert (w == 0).float().mean() == pytest.approx(1 - kept_positions(64, 0.8) / 64)


def test_soft_phase_can_revive_a_position_and_the_hard_phase_cannot():
    model = nn.Sequential(nn.Linear(8, 4, bias=False))
    with torch.no_grad():
        model[0].weight.copy_(torch.arange(1.0, 9.0).repeat(4, 1))  # position p has magnitude p + 1
    sp = PDPSparsifier(sparsity=0.5, group=4, steps=2, schedule=lambda step, target: target)
    model = sp.prepare(model, ["0"])
    p = model[0].parametrizations.weight
    sp.step()
    assert p[0].mask[0].tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    assert float(model[0].weight[0, 0].detach()) > 0  # soft: position 0 still contributes
    with torch.no_grad():
        p.original[:, 0] = 100.0  # training made position 0 the largest
    sp.step()
    assert p[0].mask[0].tolist() == [1, 0, 0, 0, 0, 1, 1, 1]  # revived
    sp.step()  # hard now: fixed from here
    assert sp.hard and p[0].mask[0].tolist() == [1, 0, 0, 0, 0, 1, 1, 1]
    with torch.no_grad():
        p.original[:, 1] = 1000.0
    sp.step()
    assert p[0].mask[0].tolist() == [1, 0, 0, 0, 0, 1, 1, 1]  # pruned stays pruned
    out = sp.squash_mask()
    assert np.flatnonzero(w2d(out[0])[0]).tolist() == [0, 5, 6, 7]


def test_global_ranking_and_report():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(256, 64), nn.Linear(64, 16))
    with torch.no_grad():
        model[0].weight.mul_(0.01)  # small weights: ranked first for removal
    sp = PDPSparsifier(sparsity=0.9, group=4, steps=2, ranking="global")
    model = sp.prepare(model)
    for _ in range(4):
        sp.step()
    rows = sp.report()
    assert rows[0]["sparsity"] > 0.9 > rows[1]["sparsity"]
    out = sp.squash_mask()
    zeros = sum(int((m.weight == 0).sum()) for m in out)
    assert zeros / (256 * 64 + 64 * 16) == pytest.approx(0.9, abs=0.01)
    assert all(pattern.holds(w2d(m), 4) for m in out)
