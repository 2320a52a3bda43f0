"""Sparse builds against eager PyTorch: pruned 1x1 convolutions compiled through spiree's sparse
passes and kernels, on host and arm64 (qemu); wasm32 compiles."""
import re

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

import spiree
from spiree.mlir_passes import pattern
from spiree.pipeline.prune import PruneOptions, prune

ATOL = 1e-4


def pointwise_net(c_in, c_mid, c_out, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(c_in, c_mid, 1), nn.ReLU(), nn.Conv2d(c_mid, c_out, 1)).eval()


def pruned(model, sparsity, group):
    return prune(model, PruneOptions(sparsity, group, min_positions=1)).model


def check(model, x, target, *, expect_sparse_layers):
    art = spiree.compile(model, (x,), target=target)
    pointwise = [r for r in art.pass_report if r.op in ("conv1x1", "linear")]
    # What materialize did with each layer detect decided on: the sparse kernel (packed indices)
    # for every "sparse" row, the dense kernel for every "dense" one; none left to IREE.
    kernels = {"sparse": r"spiree_spmm_f32_\d+x\d+_v\d+_i(8|16|32)", "dense": r"spiree_gemmc?_f32_\d+x\d+_v\d+"}
    assert [r.decision for r in pointwise].count("sparse") == expect_sparse_layers, art.manifest["passes"]
    for r in pointwise:
        assert r.decision in kernels and re.match(kernels[r.decision] + r"(_|$)", r.kernel or ""), r
    y = spiree.load(art)(x.numpy())
    with torch.no_grad():
        ref = model(x).numpy()
    err = float(np.abs(y - ref).max())
    assert err <= ATOL * max(1.0, float(np.abs(ref).max())), f"{target}: max abs error {err}"
    return art


@pytest.mark.parametrize("group", [1, 2, 4, 8])
@pytest.mark.parametrize("sparsity", [0.3, 0.5, 0.7, 0.9])
def test_host_numerics_groups_and_sparsities(group, sparsity):
    # Odd channel counts (30 is not a multiple of 4 or 8) and an odd 7x7 image.
    model = pruned(pointwise_net(24, 30, 17), sparsity, group)
    x = torch.randn(1, 24, 7, 7, generator=torch.Generator().manual_seed(1))
    check(model, x, "host", expect_sparse_layers=2)


@pytest.mark.parametrize("target", ["arm64", "wasm32"])
@pytest.mark.parametrize("group, sparsity", [(4, 0.7), (8, 0.9), (1, 0.5), (2, 0.3)])
def test_cross_target_numerics(target, group, sparsity):
    model = pruned(pointwise_net(24, 30, 17), sparsity, group)
    x = torch.randn(1, 24, 9, 7, generator=torch.Generator().manual_seed(2))
    check(model, x, target, expect_sparse_layers=2)


def test_large_image_and_batch():
    model = pruned(pointwise_net(8, 12, 16), 0.5, 4)
    x = torch.randn(2, 8, 112, 112, generator=torch.Generator().manual_seed(3))
    check(model, x, "host", expect_sparse_layers=2)


def test_dense_layer_stays_dense():
    # First layer pruned (70%), second left dense: one sparse dispatch, one dense conv.
    model = pointwise_net(24, 32, 16)
    model = prune(model, PruneOptions(0.7, 4, min_positions=1), config=[{"tensor_fqn": "0.weight"}]).model
    x = torch.randn(1, 24, 5, 5)
    art = check(model, x, "host", expect_sparse_layers=1)
    assert [r["decision"] for r in art.manifest["passes"]] == ["sparse", "dense"]
    assert "below 0.20: dense is faster" in art.manifest["passes"][1]["reason"]


def test_wasm32_sparse_build_contains_the_kernel():
    model = pruned(pointwise_net(24, 30, 17), 0.7, 4)
    art = spiree.compile(model, (torch.randn(1, 24, 7, 7),), target="wasm32")
    rows = list(art.pass_report)
    assert len(rows) == 2 and all(r.decision == "sparse" and re.match(r"spiree_spmm_f32_\d+x4_v4_i8(_|$)", r.kernel)
                                  for r in rows), rows  # G=4, SIMD128's 4 lanes, 8-bit indices
    assert b"system-wasm-wasm_32" in art.vmfb


def test_vmfb_shrinks_with_sparsity():
    base = pointwise_net(256, 256, 256)
    x = torch.randn(1, 256, 4, 4)
    dense = spiree.compile(base, (x,), target="host")
    sparse = spiree.compile(pruned(base, 0.9, 4), (x,), target="host")
    assert len(sparse.vmfb) <= 0.3 * len(dense.vmfb), (len(sparse.vmfb), len(dense.vmfb))


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(c_in=st.integers(2, 40), c_out=st.integers(1, 40), h=st.integers(1, 12), w=st.integers(1, 12),
       group=st.sampled_from(pattern.SUPPORTED_GROUPS), sparsity=st.sampled_from([0.25, 0.5, 0.75, 0.9]))
def test_random_shapes(c_in, c_out, h, w, group, sparsity):
    torch.manual_seed(0)
    model = pruned(nn.Sequential(nn.Conv2d(c_in, c_out, 1)).eval(), sparsity, group)
    x = torch.randn(1, c_in, h, w)
    w0 = model[0].weight.detach().numpy()
    expect = 1 if pattern.compiler_uses("conv1x1", pattern.detect(w0)) else 0
    check(model, x, "host", expect_sparse_layers=expect)


@pytest.mark.parametrize("target", ["host", "arm64", "wasm32"])
@pytest.mark.parametrize("stride", [1, 2])
def test_depthwise_kernel_numerics(target, stride):
    torch.manual_seed(4)
    model = nn.Sequential(nn.Conv2d(12, 12, 3, stride, 1, groups=12), nn.ReLU(),
                          nn.Conv2d(12, 12, 3, 1, 1, groups=12, bias=False)).eval()
    for shape in [(2, 12, 9, 13), (1, 12, 1, 1)]:
        x = torch.randn(*shape)
        art = spiree.compile(model, (x,), target=target)
        assert [r["decision"] for r in art.manifest["passes"]] == ["kernel", "kernel"]
        y = spiree.load(art)(x.numpy())
        with torch.no_grad():
            ref = model(x).numpy()
        assert np.abs(y - ref).max() <= ATOL, f"{target} stride {stride} {shape}"


@pytest.mark.parametrize("target", ["host", "arm64", "wasm32"])
def test_depthwise_5x5_stride2_silu_and_asymmetric_padding(target):
    # 5x5 stride 2 with SiLU fused, then an asymmetric zero pad (ZeroPad2d) folded into a 3x3
    # stride-1 layer with hardswish: both on the kernel, batch 2, odd sizes, and a 1x1 plane.
    torch.manual_seed(5)
    model = nn.Sequential(nn.Conv2d(12, 12, 5, 2, 2, groups=12), nn.SiLU(),
                          nn.ZeroPad2d((2, 0, 1, 2)), nn.Conv2d(12, 12, 3, 1, 0, groups=12), nn.Hardswish()).eval()
    for shape in [(2, 12, 15, 13), (1, 12, 1, 1)]:
        x = torch.randn(*shape)
        art = spiree.compile(model, (x,), target=target)
        rows = art.manifest["passes"]
        assert [(r["op"], r["decision"], r.get("epilogue")) for r in rows] == [
            ("dwconv5x5", "kernel", "silu"), ("dwconv3x3", "kernel", "hswish")], rows
        y = spiree.load(art)(x.numpy())
        with torch.no_grad():
            ref = model(x).numpy()
        assert y.shape == ref.shape and np.abs(y - ref).max() <= ATOL, f"{target} {shape}"


@pytest.mark.parametrize("target", ["host", "arm64", "wasm32"])
@pytest.mark.parametrize("sparsity", [0.0, 0.7])
def test_linear_layer_on_the_pointwise_kernel(target, sparsity):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(8, 64, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 30)).eval()
    if sparsity:
        model = pruned(model, sparsity, 4)
    x = torch.randn(3, 8, 5, 5)
    art = check(model, x, target, expect_sparse_layers=2 if sparsity else 0)
    assert [r["op"] for r in art.manifest["passes"]] == ["conv1x1", "linear", "avgpool"]
    assert [r["decision"] for r in art.manifest["passes"]][2] == "kernel"
