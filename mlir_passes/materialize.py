"""Pass `materialize`: run each 1x1 convolution and Linear layer on spiree's pointwise kernel,
with the packed group-sparse weights where `detect` found them worth it, dense weights elsewhere.

For each `linalg.conv_2d_nchw_fchw` (and Linear `linalg.matmul`, as a 1x1 convolution over one
pixel) annotated by `detect`:
- `spiree.sparse = {group = G, k = K, ...}`: the constant weight becomes values [NG, K, G] f32
  and indices [NG, K] (narrowest signed integer type), per mlir_passes/pattern.py, and the op a
  dispatch of `spiree_spmm_f32_{MR}x{G}_v{L}_i{B}`;
- `spiree.dense = "..."` (and a constant weight): the weight becomes [NG, C_in, G] and the op a
  dispatch of `spiree_gemm_f32_{MR}x{G}_v{L}`, the same kernel reading every input channel,
  so the whole network stays in one layout (NCHW) with no transposes around the layer.
The bias (the accumulator init: a `linalg.broadcast` of a constant vector, or zeros) and a
following ReLU (`cmpf ugt/ogt` + `select`, or `maximumf` with 0) move into the kernel's epilogue.

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

import math

import numpy as np

from . import PassOptions
from . import ir as mir
from . import pattern
from .detect import kind_of, pointwise_convs, weight_value
from .dispatch import MAX_WORKGROUPS, Export, constant, insert_executable, replace_with_dispatch
from .epilogue import bias_of, constant_array, relu_consumer
from .kernels import CACHE_LINE, render_sources
from .kernels.spmm import DENSE, STAGE, SpmmVariant

EXECUTABLE = "spiree_pointwise_kernels"


def tile_pixels(target, group: int) -> int:
    """MR: pixels per register tile, from the target's SIMD width and register count.
    Half the registers hold the G x MR accumulators, at most 4 vectors per output channel."""
    lanes = target.vector_f32_lanes
    vectors_per_row = max(1, min(4, (target.vector_registers // 2) // group))
    return lanes * vectors_per_row


# Output channels per block of the dense kernel (measured on AVX-512: 4 channels x 64 pixels
# beat 8 x 32 on every MobileNet-v1 1x1 shape).
DENSE_GROUP = 4


def dense_values(weight: np.ndarray, group: int) -> np.ndarray:
    """[NG, C_in, G]: values[g, j, r] = W[g*G + r, j] (zero rows pad the last group)."""
    w2d = pattern.positions_view(weight).astype(np.float32)
    c_out, c_in = w2d.shape
    ng = pattern.num_groups(c_out, group)
    padded = np.zeros((ng * group, c_in), np.float32)
    padded[:c_out] = w2d
    return np.ascontiguousarray(padded.reshape(ng, group, c_in).transpose(0, 2, 1))


# Bytes of input rows one pixel chunk may take: every group of a workgroup reuses the chunk from
# the core's L2 (256 KiB or more on the targets' CPUs) before the kernel moves to the next chunk.
CHUNK_BYTES = 256 * 1024


def work_split(batch: int, c_in: int, hw: int, groups: int, weight_bytes: int, variant: SpmmVariant
               ) -> tuple[tuple[int, int], int]:
    """(workgroups along output-channel groups, along pixels) and the pixel chunk of a layer.

    A workgroup reads the weights of its groups and the input rows of its pixels. Splitting
    pixels moves each activation once (a workgroup reads only its own pixels, which matters
    most when workgroups run on other cores than the dispatch that wrote the input), splitting
    groups reads each weight once: pixels when the input is the bigger of the two and there
    are at least two pixel tiles (early, large layers), groups otherwise (late layers, Linear);
    the other dimension fills the grid up to MAX_WORKGROUPS. A kernel that streams its output
    (spmm.py) keeps whole rows per workgroup when rows are not cache-line multiples, so it can
    stage and stream them (then the chunk is a whole row too)."""
    mr = variant.mr
    tiles = -(-hw // mr)
    aligned = (hw * 4) % CACHE_LINE == 0
    if tiles >= 2 and batch * c_in * hw * 4 > weight_bytes and (aligned or not variant.streams):
        gy = min(tiles, MAX_WORKGROUPS)
        grid = (min(groups, max(1, MAX_WORKGROUPS // gy)), gy)
    else:
        grid = (min(groups, MAX_WORKGROUPS), 1)
    chunk = max(mr, CHUNK_BYTES // (4 * c_in) // mr * mr)
    if variant.streams and not aligned and variant.group * hw <= STAGE:
        chunk = max(chunk, hw)
    return grid, chunk


def run(module, options: PassOptions) -> None:
    target = options.target
    exports: list[Export] = []
    variants: list[SpmmVariant] = []
    with module.context, mir.Location.unknown():
        for op in pointwise_convs(module):
            sparse_info = op.attributes["spiree.sparse"] if "spiree.sparse" in op.attributes else None
            annotated = sparse_info is not None or "spiree.dense" in op.attributes
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
                    options.report.append({"op": kind_of(op), "weight": [c_out, c_in], "decision": "iree",
                                           "reason": "accumulator init is not a bias broadcast or zeros"})
                continue
            if sparse_info is not None:
                group = int(mir.ir.IntegerAttr(mir.ir.DictAttr(sparse_info)["group"]).value)
                values, indices = pattern.pack(weight, group)
                index_bits = indices.dtype.itemsize * 8
            else:
                group = DENSE_GROUP
                values, indices, index_bits = dense_values(weight, group), None, DENSE
            variant = SpmmVariant(tile_pixels(target, group), group, index_bits, target.vector_f32_lanes)
            variants.append(variant)
            relu = relu_consumer(op.result)
            hw = h * w
            ng, k = values.shape[0], values.shape[1]
            operands = [x, constant(values, op)]
            bindings = [("f32", n * c_in * hw), ("f32", values.size)]
            if indices is not None:
                operands.append(constant(indices, op))
                bindings.append((f"i{index_bits}", indices.size))
            operands.append(constant(bias, op))
            bindings += [("f32", c_out), ("f32", n * c_out * hw)]
            name = "pointwise" if kind_of(op) == "conv1x1" else "linear"
            grid, chunk = work_split(n, c_in, hw, ng, values.nbytes + (0 if indices is None else indices.nbytes),
                                     variant)
            export = Export(f"{name}_{len(exports)}", variant.name, tuple(bindings),
                            (n, c_in, c_out, hw, k, chunk), ng, 0.0 if relu is not None else -math.inf, math.inf,
                            span=hw, span_align=variant.mr, grid=grid)
            exports.append(export)
            replace_with_dispatch(op, relu, EXECUTABLE, export.name, operands)
        if exports:
            insert_executable(module, EXECUTABLE, exports, render_sources(variants), target)


if __name__ == "__main__":
    import sys

    from . import main_for

    sys.exit(main_for(sys.modules[__name__]))
