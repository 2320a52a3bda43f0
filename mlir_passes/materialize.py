"""Pass `materialize`: run each 1x1 convolution and Linear layer on spiree's pointwise kernel,
with the packed group-sparse weights where `detect` found them worth it, dense weights elsewhere.

For each `linalg.conv_2d_nchw_fchw` (and Linear `linalg.matmul`, as a 1x1 convolution over one
pixel) annotated by `detect`:
- `spiree.sparse = {group = G, k = K, ...}`: the constant weight becomes values [NG, K, G] f32
  and indices [NG, K] (narrowest signed integer type), per mlir_passes/pattern.py, and the op a
  dispatch of `spiree_spmm_f32_{MR}x{G}_v{L}_i{B}` (`..._k{K}` when K <= 32 and the plane
  holds two pixel tiles or more: the variant is built for the layer's K, a constant trip
  count; on 7x7 planes that measured slower);
- `spiree.dense = "..."` (and a constant weight): the weight becomes [NG, C_in, G] and the op a
  dispatch of `spiree_gemm_f32_{MR}x{G}_v{L}`, the same kernel reading every input channel,
  so the whole network stays in one layout (NCHW) with no transposes around the layer; on
  wide vectors, a deep layer on a small plane (7x7, and Linear) gets the channel-vectorized
  `spiree_gemmc_f32_{CB}x{T}_v{L}` instead (weights [NB, C_in, CB], same arguments; see
  kernels/gemmc.py).
The bias (the accumulator init: a `linalg.broadcast` of a constant vector, or zeros) and the
elementwise ops after the layer that `epilogue.match_epilogue` recognizes (a residual add, then
ReLU / ReLU6 / clamp / sigmoid / SiLU / hardswish) move into the kernel's epilogue; an input that
is `y * gate` with a [N, C, 1, 1] gate used only here (squeeze-and-excitation) becomes the
kernel's `_scale` input, so the product is never materialized.

Before:
    %b = linalg.broadcast ins(%bias : tensor<8xf32>) outs(%e : tensor<1x8x3x3xf32>) dimensions = [0, 2, 3]
    %0 = linalg.conv_2d_nchw_fchw {spiree.sparse = {group = 4 : i64, k = 2 : i64, ...}}
           ins(%x, %w : tensor<1x4x3x3xf32>, tensor<8x4x1x1xf32>) outs(%b : ...) -> ...
    %1 = linalg.generic {...} ins(%0 : ...) { arith.cmpf ugt ... arith.select ... }   // ReLU
After:
    stream.executable private @spiree_pointwise_kernels attributes {hal.executable.objects = ...} {
      stream.executable.export public @pointwise_0 workgroups() -> (index, index, index) {...}
      builtin.module {
        func.func private @spiree_spmm_f32_64x4_v16_i8(...) attributes {hal.import.static}
        func.func @pointwise_0(%b0: !stream.binding, ...) { ... func.call @spiree_spmm_f32_64x4_v16_i8(...) }
      }
    }
    %v = arith.constant dense<...> : tensor<2x2x4xf32>
    %i = arith.constant dense<[[0, 2], [1, 3]]> : tensor<2x2xi8>
    %1 = flow.dispatch @spiree_pointwise_kernels::@pointwise_0(%x, %v, %i, %bias) : (...) -> tensor<1x8x3x3xf32>

Left alone: ops without an annotation, weights that are not constants, and accumulator inits
that are neither a bias broadcast nor zeros (IREE compiles those as usual).
"""
from __future__ import annotations

from . import ir as mir
from . import kinds, pattern
from .detect import kind_of, pointwise_convs, weight_value
from .dispatch import MAX_WORKGROUPS, Export, KernelSet, constant, erase_dead, replace_with_dispatch
from .epilogue import bias_of, constant_array, match_epilogue
from .kernels import gemmc
from .kernels.spmm import DENSE, FIXED_K_MAX, SpmmVariant
from .options import PassOptions
from .report import PassReport

EXECUTABLE = "spiree_pointwise_kernels"


def tile_pixels(target, group: int) -> int:
    """MR: pixels per register tile, from the target's SIMD width and register count.
    Half the registers hold the G x MR accumulators, at most 4 vectors per output channel."""
    lanes = target.vector_f32_lanes
    vectors_per_row = max(1, min(4, (target.vector_registers // 2) // group))
    return lanes * vectors_per_row


def dense_group(target) -> int:
    """Output channels per block of the dense kernel: 8 with 32 vector registers (8 x 2 vectors
    of accumulators: measured 96-100 GFLOP/s on AVX-512 over MobileNet-v1/v2 1x1 shapes against
    88-90 for 4 x 4), else 4."""
    return 8 if target.vector_registers >= 32 else 4


def spmm_variant(target, group: int, index_bits: int, k: int, hw: int, fused: tuple) -> SpmmVariant:
    """The pointwise kernel for a layer of `k` positions per group (C_in dense) on `hw` pixels,
    `fused` = (activation, residual add, SE scale); built for that K when K is small and the
    plane holds two pixel tiles or more (on 7x7 planes a fixed K measured slower)."""
    mr = tile_pixels(target, group)
    fixed_k = k if k <= FIXED_K_MAX and hw >= 2 * mr else None
    return SpmmVariant(mr, group, index_bits, target.vector_f32_lanes, *fused, fixed_k)


def dense_variant(target, c_in: int, c_out: int, hw: int, fused: tuple) -> "SpmmVariant | gemmc.GemmcVariant":
    """The dense kernel for a layer: channel-vectorized `gemmc` where `gemmc.prefer` says so,
    else the dense variant of the pointwise kernel in blocks of `dense_group`."""
    lanes, group = target.vector_f32_lanes, dense_group(target)
    if gemmc.prefer(hw, c_in, c_out, tile_pixels(target, group), lanes):
        return gemmc.GemmcVariant(2 * lanes, lanes, *fused)
    return spmm_variant(target, group, DENSE, c_in, hw, fused)


def work_grid(batch: int, c_in: int, hw: int, groups: int, weight_bytes: int, mr: int) -> tuple[int, int]:
    """Workgroups along (output-channel groups, pixels) of a layer, for multi-core scaling.

    A workgroup reads the weights of its groups and the input rows of its pixels: pixels are
    split when the input is the bigger of the two and there are at least two pixel tiles (early,
    large layers: each activation is then read by one core), groups otherwise (late layers,
    Linear); the other dimension fills the grid up to MAX_WORKGROUPS."""
    tiles = -(-hw // mr)
    if tiles >= 2 and batch * c_in * hw * 4 > weight_bytes:
        gy = min(tiles, MAX_WORKGROUPS)
        return min(groups, max(1, MAX_WORKGROUPS // gy)), gy
    return min(groups, MAX_WORKGROUPS), 1


def se_gate(x):
    """For x = `linalg.generic` y * gate (gate [N, C, 1, 1] broadcast over the pixels: the
    squeeze-and-excitation scale) used only by the convolution: (y, gate, the generic)."""
    mul = x.owner
    if getattr(mul, "name", None) != "linalg.generic" or len(mul.operands) != 3 or len(list(x.uses)) != 1:
        return None
    body = [o.operation.name for o in mul.regions[0].blocks[0].operations]
    if body != ["arith.mulf", "linalg.yield"]:
        return None
    maps = [str(m) for m in mul.attributes["indexing_maps"]]
    y, gate = mul.operands[0], mul.operands[1]
    shape = list(mir.RankedTensorType(x.type).shape)
    if (len(shape) != 4 or list(mir.RankedTensorType(y.type).shape) != shape
            or list(mir.RankedTensorType(gate.type).shape) != shape[:2] + [1, 1]
            or maps[0] != maps[2] or "-> (d0, d1, 0, 0)>" not in maps[1]):
        return None
    return y, gate, mul


def _report_row(report: PassReport, op):
    """The layer's row `detect` wrote; without `detect` (IR annotated by hand), a row from the
    annotation."""
    sparse = "spiree.sparse" in op.attributes
    reason = "spiree.sparse annotation" if sparse else mir.StringAttr(op.attributes["spiree.dense"]).value
    return report.layer(op, op_name=kind_of(op), weight=list(mir.RankedTensorType(weight_value(op).type).shape),
                        decision="sparse" if sparse else "dense", reason=reason)


def run(module, options: PassOptions, report: PassReport) -> None:
    target = options.target
    kernels = KernelSet(EXECUTABLE)
    with module.context, mir.Location.unknown():
        for op in pointwise_convs(module):
            sparse_info = op.attributes["spiree.sparse"] if "spiree.sparse" in op.attributes else None
            annotated = sparse_info is not None or "spiree.dense" in op.attributes
            row = _report_row(report, op) if annotated else None
            for key in ("spiree.sparse", "spiree.dense"):
                if key in op.attributes:
                    del op.attributes[key]
            x, w_val, init = op.operands[0], weight_value(op), op.operands[2]
            weight = constant_array(w_val)
            x_shape = mir.RankedTensorType(x.type).shape
            n, c_in, h, w = x_shape if len(x_shape) == 4 else (*x_shape, 1, 1)  # Linear: [N, in]
            c_out = mir.RankedTensorType(w_val.type).shape[0]
            bias = bias_of(init, c_out)
            if not annotated or weight is None or bias is None:
                if annotated and weight is not None:
                    row.update(decision="iree", reason="accumulator init is not a bias broadcast or zeros")
                continue
            epi = match_epilogue(op.result)
            gate = se_gate(x) if kind_of(op) == kinds.CONV1X1 else None
            hw = h * w
            fused = (epi.act, epi.residual is not None, gate is not None)
            if sparse_info is not None:
                group = int(mir.ir.IntegerAttr(mir.ir.DictAttr(sparse_info)["group"]).value)
                values, indices = pattern.pack(weight, group)
                variant = spmm_variant(target, group, indices.dtype.itemsize * 8, indices.shape[1], hw, fused)
            else:
                variant = dense_variant(target, c_in, c_out, hw, fused)
                values, indices = pattern.dense_values(weight, variant.group), None
            ng, k = values.shape[0], values.shape[1]
            operands = [gate[0] if gate else x, constant(values, op)]
            bindings = [("f32", n * c_in * hw), ("f32", values.size)]
            if indices is not None:
                operands.append(constant(indices, op))
                bindings.append((f"i{variant.index_bits}", indices.size))
            operands.append(constant(bias, op))
            bindings.append(("f32", c_out))
            if epi.residual is not None:
                operands.append(epi.residual)
                bindings.append(("f32", n * c_out * hw))
            if gate is not None:
                operands.append(gate[1])
                bindings.append(("f32", n * c_in))
            bindings.append(("f32", n * c_out * hw))
            name = "pointwise" if kind_of(op) == kinds.CONV1X1 else "linear"
            grid = work_grid(n, c_in, hw, ng, values.nbytes + (0 if indices is None else indices.nbytes), variant.mr)
            export = Export(f"{name}_{len(kernels.exports)}", variant.name, tuple(bindings),
                            (n, c_in, c_out, hw, k, variant.chunk(k)), ng, epi.vmin, epi.vmax,
                            span=hw, span_align=variant.mr, grid=grid)
            kernels.add(export, variant)
            fused = [d for d in (epi.describe(), "input scaled by SE gate" if gate else "") if d and d != "none"]
            row.update(kernel=variant.name, epilogue=", ".join(fused) or "none")
            replace_with_dispatch(op, list(epi.ops), EXECUTABLE, export.name, operands)
            if gate is not None:
                block = gate[2].operation.block
                gate[2].operation.erase()
                erase_dead(block)
        kernels.insert(module, target)


if __name__ == "__main__":
    import sys

    from .command import main_for

    sys.exit(main_for(sys.modules[__name__]))
