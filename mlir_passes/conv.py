"""Pass `conv`: KxK convolutions (any K, stride 1 or 2) and strided 1x1 convolutions on spiree's
conv kernels, dense or group-sparse per layer, with the bias, a residual add and the activation
fused.

Matches `linalg.conv_2d_nchw_fchw` with a constant weight [O, I, KH, KW], unit dilations and
equal strides S of 1 or 2, whose kernel is larger than 1x1 or whose stride is 2, whose input is
a `tensor.pad` of zeros on the spatial dims (or unpadded), and whose accumulator init is a bias
broadcast or zeros. Each becomes two dispatches:
1. the prep kernel (`spiree_convprep_f32_s{S}`, kernels/convprep.py) puts the unpadded input
   into planes where position (ci, ky, kx) of output pixel q is one offset + q: "pitch" planes
   (zero-padded, polyphase for S=2, garbage columns) or "columns" planes (one per kx, no
   garbage), whichever the cost model finds cheaper for the shape;
2. the conv kernel (`spiree_conv_f32_{MR}x{G}_v{L}_{dense|sparse}_{act}[_add]`,
   kernels/conv.py): per kept position one load of MR q's feeds G broadcast FMAs.
Sparse (the weight's group pattern, mlir_passes/pattern.py: values [NG, K, G] and per-group
offsets [NG, K]) only where the cost model says it beats the dense kernel (all positions, one
shared offset table) for that shape and G; the decision and both estimates go to
the pass's report (the manifest's "passes", `spiree compile --report`).

A dense stride-2 layer of at most DIRECT_MAX_C_IN input channels (a network's stem) on an
x86-64 AVX-512 target is one dispatch instead: the direct kernel
(`spiree_convdirect_f32_k{K}s2_g{G}_v16_{act}`, kernels/convdirect.py) reads the unpadded NCHW
input itself, with the dense weights [NG, C_in*K*K, G] and the bias; workgroups over (channel
blocks, output rows).

Before:
    %p = tensor.pad %x low[0, 0, 1, 1] high[0, 0, 1, 1] { tensor.yield %zero } : tensor<1x8x6x6xf32> to tensor<1x8x8x8xf32>
    %b = linalg.broadcast ins(%bias : tensor<8xf32>) outs(%e : tensor<1x8x6x6xf32>) dimensions = [0, 2, 3]
    %0 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
           ins(%p, %w : tensor<1x8x8x8xf32>, tensor<8x8x3x3xf32>) outs(%b : tensor<1x8x6x6xf32>) -> tensor<1x8x6x6xf32>
    %1 = linalg.generic ... ins(%0, %skip) { arith.addf }          // residual add
    %2 = linalg.generic ... ins(%1) { arith.cmpf ugt ... arith.select }   // ReLU
After:
    %q = flow.dispatch @spiree_conv_kernels::@convprep_0(%x) : (tensor<1x8x6x6xf32>) -> tensor<416xf32>
    %2 = flow.dispatch @spiree_conv_kernels::@conv_0(%q, %values, %offsets, %bias, %skip)
           : (tensor<416xf32>, tensor<1x72x8xf32>, tensor<72xi32>, tensor<8xf32>, tensor<1x8x6x6xf32>) -> tensor<1x8x6x6xf32>
    (+ the stream.executable with @convprep_0 / @conv_0 calling the C kernels)
A stem (3 input channels, stride 2) on x86-64 AVX-512:
    %2 = flow.dispatch @spiree_conv_kernels::@conv_0(%x, %values, %bias)
           : (tensor<1x3x15x15xf32>, tensor<1x27x16xf32>, tensor<16xf32>) -> tensor<1x16x8x8xf32>

Left alone (IREE compiles them): unit-stride 1x1 convolutions (the `detect`/`materialize`
passes' job), depthwise and grouped convolutions, dilations, unequal strides or strides other
than 1 and 2, pads of non-zero values or on the batch/channel dims, non-constant weights,
accumulator inits that are neither a bias broadcast nor zeros. Those of them that are KxK or
strided get a report row saying why.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import ir as mir
from . import kinds, pattern
from .dispatch import MAX_WORKGROUPS, Export, KernelSet, constant, dispatch, replace_with_dispatch
from .epilogue import Epilogue, bias_of, constant_array, match_epilogue, unpadded
from .kernels.conv import ConvVariant
from .kernels.convdirect import LANES as DIRECT_LANES
from .kernels.convdirect import ConvDirectVariant, group_for
from .kernels.convprep import MODES, ConvPlanes, ConvPrepVariant
from .options import PassOptions
from .report import PassReport

EXECUTABLE = "spiree_conv_kernels"
CONV = "linalg.conv_2d_nchw_fchw"

# Cost model (units: one vector FMA at full throughput). Measured on x86-64 AVX-512 (Zen 4),
# one thread, ResNet-18 shapes (bench/conv_kernels.py): the kernel runs at ~95% of FMA peak with
# G >= 4 (16-24 accumulators, one input load per G FMAs), G=2 at ~70% and G=1 at ~35% (one
# vector load per FMA: bound by the loads from L2). Every (tile, group) also pays its stores and
# activation, and the prep kernel ~0.4 units per float it writes.
EFFICIENCY = {1: 0.35, 2: 0.7, 4: 0.92, 8: 0.95}
TILE_COST = 12.0  # per accumulator vector of a (tile, group): bias init, epilogue, store
# per float of the planes: the prep kernel's write and the conv kernel's cache misses on
# larger planes (the stem's 14 "columns" planes per channel run slower than its 4 "pitch" ones)
PREP_COST = 1.0
# The direct kernel (kernels/convdirect.py) takes dense stride-2 layers of at most this many
# input channels on x86-64 AVX-512: the stems (3 channels), whose prep costs as much as a fifth
# of the conv (MobileNet-v1: prep 0.075 + conv 0.30 ms in the network, direct 0.225 in a C
# harness against 0.25 + prep there). Deeper stride-2 layers keep the prep: not measured.
DIRECT_MAX_C_IN = 4


def tile_vectors(target, group: int) -> int:
    """Vectors of q's per register tile: 3/4 of the registers hold the G x vectors accumulators
    (24 of AVX-512's and NEON's 32, 12 of wasm32's 16), at most 8."""
    return max(1, min(8, (target.vector_registers * 3 // 4) // group))


def dense_group(target) -> int:
    """G of the dense kernel: 8 channels x 3 vectors with 32 registers, 4 x 3 with 16."""
    return 8 if target.vector_registers >= 32 else 4


@dataclass(frozen=True)
class Estimate:
    conv: float
    prep: float

    @property
    def total(self) -> float:
        return self.conv + self.prep


def estimate(planes: ConvPlanes, c_out: int, k: int, group: int, vectors: int) -> Estimate:
    """Cost of one layer (prep + conv kernel) in units of full-throughput vector FMAs."""
    lanes = planes.lanes
    step = lanes // 2 if lanes >= 8 else lanes  # tail tiles end with a half vector (kernels/conv.py)
    q_vectors = planes.batch * math.ceil(planes.q_count / step) * step / lanes
    ng = pattern.num_groups(c_out, group)
    tiles = planes.batch * math.ceil(planes.q_count / (vectors * lanes))
    conv = q_vectors * ng * k * group / EFFICIENCY[group] + tiles * ng * group * vectors * TILE_COST
    return Estimate(conv, planes.size * PREP_COST)


@dataclass(frozen=True)
class Match:
    op: object
    x: object  # the unpadded input
    weight: np.ndarray
    bias: np.ndarray
    stride: int
    pad: tuple[int, int]  # top, left


def match(op) -> "Match | str | None":
    """A Match, or why a KxK/strided convolution stays with IREE (str), or None when the op is
    not this pass's (unit-stride 1x1 convolutions)."""
    w_type = mir.RankedTensorType(op.operands[1].type)
    kh, kw = w_type.shape[2:]
    strides = mir.int_list(op.attributes["strides"]) if "strides" in op.attributes else [1, 1]
    dilations = mir.int_list(op.attributes["dilations"]) if "dilations" in op.attributes else [1, 1]
    if (kh, kw) == (1, 1) and strides == [1, 1]:
        return None
    if dilations != [1, 1]:
        return f"dilations {dilations}: the kernels take unit dilation"
    if strides[0] != strides[1] or strides[0] not in (1, 2):
        return f"strides {strides}: the kernels take equal strides of 1 or 2"
    weight = constant_array(op.operands[1])
    if weight is None:
        return "weight is not a constant"
    found = unpadded(op.operands[0], 0.0)
    if found is None:
        return "input padding is not zeros on H and W"
    bias = bias_of(op.operands[2], int(w_type.shape[0]))
    if bias is None:
        return "accumulator init is not a bias broadcast or zeros"
    return Match(op, found[0], weight.astype(np.float32), bias, strides[0], found[1])


def conv_ops(module) -> list:
    return mir.function_ops(module, lambda op: op.name == CONV)


@dataclass(frozen=True)
class Plan:
    planes: ConvPlanes
    variant: ConvVariant
    values: np.ndarray  # [NG, K, G]
    offsets: np.ndarray  # int32 [NG, K] (sparse) or [K] (dense)
    reason: str


def plan(m: Match, out_hw: tuple[int, int], target, options: PassOptions, epilogue: Epilogue) -> Plan:
    """The per-layer decisions: planes mode, dense or sparse, tile; with the estimates behind them."""
    n, c, h, w = mir.RankedTensorType(m.x.type).shape
    c_out, _, kh, kw = m.weight.shape
    lanes = target.vector_f32_lanes
    positions = c * kh * kw
    pat = pattern.detect(m.weight)
    options_ = [("dense", dense_group(target), positions)]
    if options.exploit_sparsity and pat.sparsity >= options.min_sparsity:
        options_.append(("sparse", pat.group, pat.k))
    best = None
    for mode in MODES:
        planes = ConvPlanes(n, c, h, w, (kh, kw), m.stride, m.pad, tuple(out_hw), mode, lanes)
        for kind, group, k in options_:
            est = estimate(planes, c_out, k, group, tile_vectors(target, group))
            if best is None or est.total < best[0].total:
                best = (est, planes, kind, group, k)
    est, planes, kind, group, k = best
    dense_est = min(estimate(ConvPlanes(n, c, h, w, (kh, kw), m.stride, m.pad, tuple(out_hw), mode, lanes),
                             c_out, positions, dense_group(target), tile_vectors(target, dense_group(target))).total
                    for mode in MODES)
    variant = ConvVariant(tile_vectors(target, group) * lanes, group, lanes, kind == "sparse", epilogue.act,
                          epilogue.residual is not None)
    table = planes.offsets()
    if kind == "sparse":
        values, indices = pattern.pack(m.weight, group)
        offsets = table[indices.astype(np.int64)]
        reason = (f"G={group} K={k} of {positions} (sparsity {pat.sparsity:.2f}): est {_units(est.total)} "
                  f"vs dense {_units(dense_est)}")
    else:
        values, offsets = pattern.dense_values(m.weight, group), table
        if not options.exploit_sparsity and pat.sparsity >= options.min_sparsity:
            why = "dense baseline build (sparsity not exploited)"
        elif pat.sparsity < options.min_sparsity:
            why = f"sparsity {pat.sparsity:.2f} below {options.min_sparsity:.2f}"
        else:
            sparse_est = min(estimate(ConvPlanes(n, c, h, w, (kh, kw), m.stride, m.pad, tuple(out_hw), mo, lanes),
                                      c_out, pat.k, pat.group, tile_vectors(target, pat.group)).total for mo in MODES)
            why = (f"G={pat.group} K={pat.k} (sparsity {pat.sparsity:.2f}) est {_units(sparse_est)} "
                   f"is not below dense {_units(dense_est)}")
        reason = f"{why}; dense est {_units(est.total)}"
    return Plan(planes, variant, values, np.ascontiguousarray(offsets, np.int32), reason)


def direct_variant(m: Match, p: Plan, epi: Epilogue, target) -> "ConvDirectVariant | None":
    """The direct kernel for a layer the plan keeps dense, when it takes it: stride 2, a square
    window, at most DIRECT_MAX_C_IN input channels, no residual, an x86-64 AVX-512 target."""
    c_out, c_in, kh, kw = m.weight.shape
    if (target.arch != "x86_64" or target.vector_f32_lanes != DIRECT_LANES or m.stride != 2 or kh != kw
            or not 3 <= kh <= 7 or c_in > DIRECT_MAX_C_IN or p.variant.sparse or epi.residual is not None):
        return None
    return ConvDirectVariant(kh, group_for(c_out), epi.act)


def _units(x: float) -> str:
    """An estimate for the report: 3 significant digits with k/M suffix."""
    return f"{x / 1e6:.3g}M" if x >= 1e6 else f"{x / 1e3:.3g}k"


def _op_kind(kh: int, kw: int, stride: int) -> str:
    return kinds.op_name(kinds.CONV, (kh, kw), stride)


def run(module, options: PassOptions, report: PassReport) -> None:
    target = options.target
    kernels = KernelSet(EXECUTABLE)
    layers = 0
    with module.context, mir.Location.unknown():
        for op in conv_ops(module):
            m = match(op)
            if m is None:
                continue
            w_shape = list(mir.RankedTensorType(op.operands[1].type).shape)
            if isinstance(m, str):
                stride = (mir.int_list(op.attributes["strides"]) if "strides" in op.attributes else [1])[0]
                report.layer(op, op_name=_op_kind(*w_shape[2:], stride), weight=w_shape, decision="iree", reason=m)
                continue
            out_type = mir.RankedTensorType(op.results[0].type)
            n, c, h, w = mir.RankedTensorType(m.x.type).shape
            c_out = w_shape[0]
            epi = match_epilogue(op.results[0])
            p = plan(m, tuple(out_type.shape[2:]), target, options, epi)
            i, layers = layers, layers + 1
            direct = direct_variant(m, p, epi, target)
            if direct is not None:
                _replace_direct(op, m, epi, direct, i, kernels, report, p.reason)
                continue
            planes, variant = p.planes, p.variant
            prep = ConvPrepVariant(m.stride)
            prep_export = Export(f"convprep_{i}", prep.name, (("f32", n * c * h * w), ("f32", planes.size)),
                                 planes.prep_scalars(), c, -math.inf, math.inf)
            ng, k = p.values.shape[:2]
            bindings = [("f32", planes.size), ("f32", p.values.size), ("i32", p.offsets.size), ("f32", c_out)]
            if epi.residual is not None:
                bindings.append(("f32", int(np.prod(out_type.shape))))
            bindings.append(("f32", int(np.prod(out_type.shape))))
            conv_export = Export(f"conv_{i}", variant.name, tuple(bindings), planes.conv_scalars(c_out, k), ng,
                                 epi.vmin, epi.vmax)
            kernels.add(prep_export, prep)
            kernels.add(conv_export, variant)
            prepped = dispatch(EXECUTABLE, prep_export.name, [m.x],
                               mir.RankedTensorType.get([planes.size], mir.F32Type.get()), op)
            operands = [prepped, constant(p.values, op), constant(p.offsets, op), constant(m.bias, op)]
            if epi.residual is not None:
                operands.append(epi.residual)
            report.layer(op, op_name=_op_kind(*w_shape[2:], m.stride), weight=w_shape, stride=m.stride,
                         decision="sparse" if variant.sparse else "dense", reason=f"{p.reason}, {planes.mode} planes",
                         kernel=variant.name,
                         epilogue=epi.describe())
            replace_with_dispatch(op, list(epi.ops), EXECUTABLE, conv_export.name, operands)
        kernels.insert(module, target)


def _replace_direct(op, m: Match, epi: Epilogue, v: ConvDirectVariant, i: int, kernels: KernelSet,
                    report: PassReport, reason: str) -> None:
    """One dispatch of the direct kernel on the unpadded input: workgroups over (channel blocks,
    output rows)."""
    out_type = mir.RankedTensorType(op.results[0].type)
    n, c, h, w = mir.RankedTensorType(m.x.type).shape
    c_out, _, k, _ = m.weight.shape
    ho, wo = out_type.shape[2:]
    values = pattern.dense_values(m.weight, v.group)
    blocks = values.shape[0]
    gx = min(blocks, MAX_WORKGROUPS)
    grid = (gx, max(1, min(ho, MAX_WORKGROUPS // gx)))
    export = Export(f"conv_{i}", v.name,
                    (("f32", n * c * h * w), ("f32", values.size), ("f32", c_out), ("f32", int(np.prod(out_type.shape)))),
                    (n, c, c_out, h, w, ho, wo, m.pad[0], m.pad[1]), blocks, epi.vmin, epi.vmax,
                    span=ho, span_align=1, grid=grid)
    kernels.add(export, v)
    report.layer(op, op_name=_op_kind(k, k, m.stride), weight=list(m.weight.shape), stride=m.stride,
                 decision="dense", reason=f"{reason}, read directly from the input (no prep)", kernel=v.name,
                 epilogue=epi.describe())
    replace_with_dispatch(op, list(epi.ops), EXECUTABLE, export.name,
                          [m.x, constant(values, op), constant(m.bias, op)])


if __name__ == "__main__":
    import sys

    from .command import main_for

    sys.exit(main_for(sys.modules[__name__]))
