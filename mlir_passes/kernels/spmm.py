"""The group-sparse 1x1-convolution microkernel (SpMM), generated per variant.

One template, parameters in the name (as XNNPACK's `f32-spmm/*.c.in`):
`spiree_spmm_f32_{MR}x{G}_i{B}` computes, for output-channel groups [g_begin, g_end) and
pixels [p_begin, p_end) of a packed weight (mlir_passes/pattern.py layout), over NCHW
activations:

    out[n, g*G + r, p] = clamp(bias[g*G + r] + sum_j vals[g, j, r] * x[n, idx[g, j], p], vmin, vmax)

The pixel range is done in chunks of `chunk` pixels (a multiple of MR, sized by the caller so
that a chunk of every input row fits in the core's L2): all groups of a chunk, then the next
chunk, so the input is streamed into the cache once per call rather than once per group.

vectorized along pixels: a tile of MR contiguous pixels x G output channels stays in registers;
per nonzero position it loads MR pixels of one input row once and does G broadcast FMAs
(one activation load feeds G multiply-adds). clang vectorizes the tile for each target's SIMD
(-O3 with the target's features); MR comes from the target's f32 lane count.

Streaming stores (variants whose vector is a whole 64-byte cache line: 16 lanes, AVX-512):
once two workgroups of the kernel have run at the same time, line-aligned output row segments
are written with non-temporal stores. Measured on the 2-core AVX-512 machine: a normal store
into a line that another core has just read costs ~30 ns (that core's copy must be invalidated
first, one line at a time), and IREE's local-task device causes this all the time (workgroups
land on whichever worker claims them, and a layer's output reuses memory the layer before read
on the other core); non-temporal stores skip the read-for-ownership. On one thread the kernel
stores in place, where the next layer finds its input in cache.
"""
from __future__ import annotations

from dataclasses import dataclass

from . import CACHE_LINE, stream_writer

INDEX_TYPES = {8: "int8_t", 16: "int16_t", 32: "int32_t"}
# Floats of output a workgroup stages on the stack (16 KiB): whole output rows of a group, when
# its rows are not line-aligned, so they can be streamed out (see _body).
STAGE = 4096
DENSE = 0  # index_bits of the dense variant: every input channel, no index table


@dataclass(frozen=True)
class SpmmVariant:
    mr: int  # pixels per register tile
    group: int  # output channels per group (G)
    index_bits: int  # 8, 16 or 32; DENSE (0) for the dense variant
    lanes: int = 4  # f32 lanes of the target's SIMD register

    def __post_init__(self):
        if self.mr <= 0 or self.mr % 4:
            raise ValueError(f"MR must be a positive multiple of 4, got {self.mr}")
        if self.group not in (1, 2, 4, 8):
            raise ValueError(f"G must be 1, 2, 4 or 8, got {self.group}")
        if self.index_bits not in INDEX_TYPES and self.index_bits != DENSE:
            raise ValueError(f"index bits must be 8, 16 or 32 (or 0 for dense), got {self.index_bits}")
        if self.lanes not in (4, 8, 16) or self.mr % self.lanes:
            raise ValueError(f"lanes must be 4, 8 or 16 and divide MR={self.mr}, got {self.lanes}")

    @property
    def dense(self) -> bool:
        return self.index_bits == DENSE

    @property
    def name(self) -> str:
        if self.dense:
            return f"spiree_gemm_f32_{self.mr}x{self.group}_v{self.lanes}"
        return f"spiree_spmm_f32_{self.mr}x{self.group}_v{self.lanes}_i{self.index_bits}"

    def _idx(self) -> tuple[str, str, str, str]:
        """(C parameter of the tile, argument passed to it, kernel parameters, row index expr)."""
        if self.dense:
            return "", "", "", "j"
        idx = INDEX_TYPES[self.index_bits]
        return (f"const {idx}* restrict ix, ", "ix, ",
                f"    const {idx}* i_base, const {idx}* restrict i_al, size_t i_off, size_t i_size, size_t i_stride,\n",
                "(size_t)ix[j]")

    def tile_sizes(self) -> list[int]:
        """Pixel tiles tried in order: MR, MR/2, ... down to 4, then 1 (no runtime-bounded loop,
        so every tile is a fixed-size, fully vectorized block)."""
        sizes, t = [], self.mr
        while t >= 4:
            sizes.append(t)
            t //= 2
        return sizes + [1]

    @property
    def streams(self) -> bool:
        """Whether this variant can write whole cache lines with streaming stores (a vector
        is a 64-byte line: 16 lanes)."""
        return self.lanes * 4 == CACHE_LINE

    def render(self) -> str:
        tiles = "".join(self._render_tile(t) for t in self.tile_sizes())
        params = self._params()
        if not self.streams:
            return tiles + self._body(
                f"/* Called from MLIR with 1-D memrefs expanded (base, aligned, offset, size, stride). */\nvoid {self.name}",
                params, streaming=False)
        n = self.name
        args = self._args()
        # Line-aligned output rows are written with non-temporal stores once two workgroups of
        # this kernel have run at the same time (IREE's local-task device with several workers;
        # each loaded copy of the executable has its own flag); on one thread they are stored in
        # place, where the next layer finds them in cache. Two copies of the body, so the choice
        # is made once per call.
        return tiles + stream_writer(n, f"spiree_v{self.lanes}") + self._body(f"static void {n}_in_place", params, streaming=False) + self._body(
            f"static void {n}_streamed", params, streaming=True) + f"""
/* Called from MLIR with 1-D memrefs expanded (base, aligned, offset, size, stride). */
void {n}({params}) {{
  if (__atomic_fetch_add(&{n}_running, 1, __ATOMIC_RELAXED) > 0) __atomic_store_n(&{n}_shared, 1, __ATOMIC_RELAXED);
  if (!__atomic_load_n(&{n}_shared, __ATOMIC_RELAXED)) {{
    {n}_in_place({args});
  }} else {{
    {n}_streamed({args});
#if defined(__x86_64__)
    __builtin_ia32_sfence();
#endif
  }}
  __atomic_fetch_sub(&{n}_running, 1, __ATOMIC_RELAXED);
}}
"""

    def _params(self) -> str:
        _, _, ix_params, _ = self._idx()
        return f"""
    const float* x_base, const float* restrict x_al, size_t x_off, size_t x_size, size_t x_stride,
    const float* v_base, const float* restrict v_al, size_t v_off, size_t v_size, size_t v_stride,
{ix_params}    const float* b_base, const float* restrict b_al, size_t b_off, size_t b_size, size_t b_stride,
    float* o_base, float* restrict o_al, size_t o_off, size_t o_size, size_t o_stride,
    size_t batch, size_t c_in, size_t c_out, size_t hw, size_t k, size_t chunk,
    size_t g_begin, size_t g_end, size_t p_begin, size_t p_end, float vmin, float vmax"""

    def _args(self) -> str:
        ix = "" if self.dense else "i_base, i_al, i_off, i_size, i_stride, "
        return ("x_base, x_al, x_off, x_size, x_stride, v_base, v_al, v_off, v_size, v_stride, " + ix
                + "b_base, b_al, b_off, b_size, b_stride, o_base, o_al, o_off, o_size, o_stride, "
                "batch, c_in, c_out, hw, k, chunk, g_begin, g_end, p_begin, p_end, vmin, vmax")

    def _body(self, head: str, params: str, *, streaming: bool) -> str:
        G = self.group
        _, ix_arg, _, _ = self._idx()
        loops = "".join(
            f"""
        for (; p + {t} <= pe; p += {t}) {self.name}_t{t}(xn, w, {ix_arg}b, o, hw, k, rows, p, vmin, vmax{", " + ("direct" if streaming else "0") if t > 1 else ""});"""
            for t in self.tile_sizes())
        return f"""
{head}({params}) {{
  const float* restrict x = x_al + x_off;
  const float* restrict vals = v_al + v_off;
{"" if self.dense else f"  const {INDEX_TYPES[self.index_bits]}* restrict idx = i_al + i_off;"}
  const float* restrict bias = b_al + b_off;
  float* restrict out = o_al + o_off;
  if (chunk == 0) chunk = p_end - p_begin;{self._stage_decl() if streaming else ""}
  for (size_t n = 0; n < batch; ++n) {{
    const float* xn = x + n * c_in * hw;
    float* on = out + n * c_out * hw;{self._stage_begin() if streaming else ""}
    for (size_t pc = p_begin; pc < p_end; pc += chunk) {{
      const size_t pe = p_end - pc < chunk ? p_end : pc + chunk;{self._prefetch_chunk() if streaming else ""}
      for (size_t g = g_begin; g < g_end; ++g) {{
        const float* w = vals + g * k * {G};
{"" if self.dense else f"        const {INDEX_TYPES[self.index_bits]}* ix = idx + g * k;"}
        const size_t c0 = g * {G};
        const size_t rows = c_out - c0 < {G} ? c_out - c0 : {G};
        float* o = {"staged ? stage : " if streaming else ""}on + c0 * hw;  /* row c0 of this group */
        float b[{G}];
        for (size_t r = 0; r < {G}; ++r) b[r] = r < rows ? bias[c0 + r] : 0.0f;
        size_t p = pc;{loops}{self._stage_put() if streaming else ""}
      }}
    }}{self._stage_end() if streaming else ""}
  }}
}}
"""

    def _stage_decl(self) -> str:
        """Streaming, rows not line-aligned (14x14, 7x7 layers): a workgroup that owns whole
        output rows computes each group's rows into a stack buffer and streams them out; its
        output is one contiguous range (groups are consecutive rows). Otherwise line-aligned row
        segments are stored non-temporally straight from the tile ("direct")."""
        return f"""
  const int staged = p_begin == 0 && p_end == hw && chunk >= hw && {self.group} * hw <= {STAGE}
                     && (hw * sizeof(float)) % {CACHE_LINE} != 0;
  const int direct = !staged;
  float stage[{STAGE}];
  struct {self.name}_stream st;"""

    def _stage_begin(self) -> str:
        return f"""
    if (staged) {self.name}_stream_begin(&st, on + g_begin * {self.group} * hw);"""

    def _stage_put(self) -> str:
        return f"""
        if (staged) {self.name}_stream_put(&st, stage, rows * hw);"""

    def _stage_end(self) -> str:
        return f"""
    if (staged) {self.name}_stream_end(&st);"""

    def _render_tile(self, mr: int) -> str:
        G = self.group
        ix_param, _, _, row = self._idx()
        if mr == 1:
            return self._render_scalar_tile()
        vw = min(mr, self.lanes)  # lanes per vector in this tile
        nv = mr // vw
        vt = f"spiree_v{vw}"
        return f"""
/* {mr} pixels ({nv} x {vw}-lane vectors) x {G} output channels, accumulators in registers:
   per nonzero, one load of the input row feeds {G} broadcast FMAs. */
static inline __attribute__((always_inline)) void {self.name}_t{mr}(
    const float* restrict xn, const float* restrict w, {ix_param}
    const float* restrict b, float* restrict o, size_t hw, size_t k, size_t rows,
    size_t p, float vmin, float vmax, const int streaming) {{
  {vt} acc[{G}][{nv}];
  for (size_t r = 0; r < {G}; ++r)
    for (size_t v = 0; v < {nv}; ++v) acc[r][v] = ({vt}){{0}} + b[r];
  for (size_t j = 0; j < k; ++j) {{
    const float* xr = xn + {row} * hw + p;
    {vt} xv[{nv}];
    for (size_t v = 0; v < {nv}; ++v) xv[v] = *(const {vt}*)(xr + v * {vw});
    for (size_t r = 0; r < {G}; ++r) {{
      /* vector * scalar: the weight is broadcast straight into the FMA (no splat arithmetic) */
      const float wr = w[j * {G} + r];
      for (size_t v = 0; v < {nv}; ++v) acc[r][v] += xv[v] * wr;
    }}
  }}
  for (size_t r = 0; r < rows; ++r) {{
    float* dst = o + r * hw + p;{self._streaming_store(nv, vw, vt)}
    float t[{mr}];
    for (size_t v = 0; v < {nv}; ++v) *({vt}*)(t + v * {vw}) = acc[r][v];
    for (size_t m = 0; m < {mr}; ++m) {{
      float y = t[m] < vmin ? vmin : t[m];
      dst[m] = y > vmax ? vmax : y;
    }}
  }}
}}
"""

    def _prefetch_chunk(self) -> str:
        """Sparse variants, streaming: the chunk of every input row is prefetched first. The
        rows a group reads are picked by index, which no hardware prefetcher follows, and when
        the kernel streams, the layer before streamed its output too, so the rows are in DRAM."""
        if self.dense:
            return ""
        return f"""
      for (size_t c = 0; c < c_in; ++c) {{
        const char* row = (const char*)(xn + c * hw + pc);
        for (size_t o = 0; o < (pe - pc) * 4; o += {CACHE_LINE}) __builtin_prefetch(row + o, 0, 2);
      }}"""

    def _streaming_store(self, nv: int, vw: int, vt: str) -> str:
        """When one vector is a whole cache line and the caller streams: a line-aligned output
        row segment is written with non-temporal stores (no read-for-ownership of lines another
        core may hold)."""
        if vw * 4 != CACHE_LINE:
            return ""
        return f"""
    if (streaming && ((size_t)dst & {CACHE_LINE - 1}) == 0) {{
      for (size_t v = 0; v < {nv}; ++v)
        __builtin_nontemporal_store(spiree_act_minmax_v{vw}(acc[r][v], vmin, vmax), ({vt}*)(dst + v * {vw}));
      continue;
    }}"""

    def _render_scalar_tile(self) -> str:
        G = self.group
        ix_param, _, _, row = self._idx()
        return f"""
/* 1 pixel x {G} output channels (the remainder after the vector tiles). */
static inline __attribute__((always_inline)) void {self.name}_t1(
    const float* restrict xn, const float* restrict w, {ix_param}
    const float* restrict b, float* restrict o, size_t hw, size_t k, size_t rows,
    size_t p, float vmin, float vmax) {{
  float acc[{G}];
  for (size_t r = 0; r < {G}; ++r) acc[r] = b[r];
  for (size_t j = 0; j < k; ++j) {{
    const float xv = xn[{row} * hw + p];
    for (size_t r = 0; r < {G}; ++r) acc[r] += w[j * {G} + r] * xv;
  }}
  for (size_t r = 0; r < rows; ++r) {{
    float y = acc[r] < vmin ? vmin : acc[r];
    o[r * hw + p] = y > vmax ? vmax : y;
  }}
}}
"""


PRELUDE = (
    "/* Generated by spiree.mlir_passes.kernels; do not edit. */\n"
    "#include <stddef.h>\n#include <stdint.h>\n"
    "/* Unaligned-capable vector types (clang vector extensions lower to the target's SIMD). */\n"
    "typedef float spiree_v4 __attribute__((vector_size(16), aligned(4)));\n"
    "typedef float spiree_v8 __attribute__((vector_size(32), aligned(4)));\n"
    "typedef float spiree_v16 __attribute__((vector_size(64), aligned(4)));\n")


def render_source(variants) -> str:
    body = "".join(v.render() for v in sorted(set(variants), key=lambda v: v.name))
    return PRELUDE + body
