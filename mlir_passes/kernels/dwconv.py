"""The depthwise 3x3 convolution microkernel (NCHW, padding 1), generated per variant.

`spiree_dwconv3x3s{S}_f32_v{L}` computes, for channels [c_begin, c_end):

    out[n, c, oy, ox] = clamp(bias[c] + sum_{ky,kx} w[c, ky, kx] * xpad[n, c, S*oy + ky, S*ox + kx], vmin, vmax)

where xpad is x with one zero row/column on every side. Input rows are copied once into a ring
of three zero-padded row buffers (deinterleaved into even/odd columns for stride 2), so the
inner loop is nine broadcast FMAs over L-lane vectors of contiguous outputs, with no bounds
checks; the tail of a row (< L outputs) is scalar.
"""
from __future__ import annotations

from dataclasses import dataclass

from . import CACHE_LINE, stream_writer


@dataclass(frozen=True)
class DwconvVariant:
    stride: int  # 1 or 2
    lanes: int  # f32 lanes of the target's SIMD register

    def __post_init__(self):
        if self.stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {self.stride}")
        if self.lanes not in (4, 8, 16):
            raise ValueError(f"lanes must be 4, 8 or 16, got {self.lanes}")

    @property
    def name(self) -> str:
        return f"spiree_dwconv3x3s{self.stride}_f32_v{self.lanes}"

    def render(self) -> str:
        S, L = self.stride, self.lanes
        vt = f"spiree_v{L}"
        if S == 1:
            fill = """
      float* d = buf[slot];
      d[0] = 0.0f;
      if (iy >= 0 && iy < (long)h) { const float* s = xc + (size_t)iy * w; for (size_t i = 0; i < w; ++i) d[1 + i] = s[i]; }
      else { for (size_t i = 0; i < w; ++i) d[1 + i] = 0.0f; }
      for (size_t i = w + 1; i < bw; ++i) d[i] = 0.0f;"""
            load = lambda ky, kx, at: f"r[{ky}] + {at} + {kx}"
        else:
            fill = """
      float* e = buf[slot];
      float* o = buf[slot] + half;
      for (size_t i = 0; i < bw; ++i) e[i] = 0.0f;
      if (iy >= 0 && iy < (long)h) {
        const float* s = xc + (size_t)iy * w;
        /* padded column j = 1 + i holds s[i]: even j -> e[j/2], odd j -> o[j/2] */
        for (size_t i = 0; i < w; ++i) { size_t j = i + 1; if (j & 1) o[j >> 1] = s[i]; else e[j >> 1] = s[i]; }
      }"""
            load = lambda ky, kx, at: (f"r[{ky}] + {at}" if kx == 0 else
                                       f"r[{ky}] + half + {at}" if kx == 1 else f"r[{ky}] + {at} + 1")
        vec_terms = "\n".join(
            f"          acc = acc + *(const {vt}*)({load(ky, kx, 'ox')}) * k{ky * 3 + kx};"
            for ky in range(3) for kx in range(3))
        scalar_terms = "\n".join(
            f"          acc += *({load(ky, kx, 'ox')}) * kw[{ky * 3 + kx}];"
            for ky in range(3) for kx in range(3))
        # Buffer width: padded row (w + 2), + L slack so a vector never reads past the buffer.
        width = "w + 2 + 2 * " + str(L) if S == 1 else "2 * (w / 2 + 2 + " + str(L) + ")"
        n = self.name
        params = """
    const float* x_base, const float* restrict x_al, size_t x_off, size_t x_size, size_t x_stride,
    const float* w_base, const float* restrict w_al, size_t w_off, size_t w_size, size_t w_stride,
    const float* b_base, const float* restrict b_al, size_t b_off, size_t b_size, size_t b_stride,
    float* o_base, float* restrict o_al, size_t o_off, size_t o_size, size_t o_stride,
    size_t batch, size_t ch, size_t h, size_t w, size_t ho, size_t wo,
    size_t c_begin, size_t c_end, float vmin, float vmax"""
        args = ("x_base, x_al, x_off, x_size, x_stride, w_base, w_al, w_off, w_size, w_stride, "
                "b_base, b_al, b_off, b_size, b_stride, o_base, o_al, o_off, o_size, o_stride, "
                "batch, ch, h, w, ho, wo, c_begin, c_end, vmin, vmax")

        def body(head: str, streaming: bool) -> str:
            """The kernel as one C function; `streaming`: output rows are staged and written out
            with the stream writer instead of stored in place."""
            decl = "" if not streaming else f"""
  const size_t stage = wo > {STAGE} ? wo : {STAGE};  /* floats of output rows staged before streaming */
  float rowbuf[stage];
  size_t staged = 0;
  struct {n}_stream st;"""
            begin = "" if not streaming else f"""
    {n}_stream_begin(&st, out + (n * ch + c_begin) * ho * wo);"""
            flush = "" if not streaming else f"""
        if (staged + wo > stage) {{
          {n}_stream_put(&st, rowbuf, staged);
          staged = 0;
        }}"""
            done = "" if not streaming else """
        staged += wo;"""
            finish = "" if not streaming else f"""
    {n}_stream_put(&st, rowbuf, staged);
    staged = 0;
    {n}_stream_end(&st);"""
            return f"""
{head}({params}) {{
  const float* restrict x = x_al + x_off;
  const float* restrict wt = w_al + w_off;
  const float* restrict bias = b_al + b_off;
  float* restrict out = o_al + o_off;
  const size_t bw = {width};{"" if S == 1 else chr(10) + "  const size_t half = bw / 2;"}
  float buf[3][bw];{decl}
  for (size_t n = 0; n < batch; ++n) {{{begin}
    for (size_t c = c_begin; c < c_end; ++c) {{
      const float* xc = x + (n * ch + c) * h * w;
      float* oc = out + (n * ch + c) * ho * wo;
      float kw[9];
      for (size_t i = 0; i < 9; ++i) kw[i] = wt[c * 9 + i];
{"".join(f"      const {vt} k{i} = ({vt}){{0}} + kw[{i}];{chr(10)}" for i in range(9))}      const {vt} vb = ({vt}){{0}} + bias[c];
      long tag[3];
      tag[0] = tag[1] = tag[2] = -9;  /* no initializer: constant data would need relocations */
      for (size_t oy = 0; oy < ho; ++oy) {{
        const float* r[3];
        for (size_t ky = 0; ky < 3; ++ky) {{
          const long iy = (long)(oy * {S}) - 1 + (long)ky;
          const size_t slot = (size_t)(iy + 3) % 3;
          if (tag[slot] != iy) {{{fill}
            tag[slot] = iy;
          }}
          r[ky] = buf[slot];
        }}{flush}
        float* orow = {"rowbuf + staged" if streaming else "oc + oy * wo"};
        size_t ox = 0;
        for (; ox + {L} <= wo; ox += {L}) {{
          {vt} acc = vb;
{vec_terms}
          float t[{L}];
          *({vt}*)t = acc;
          for (size_t m = 0; m < {L}; ++m) {{
            float y = t[m] < vmin ? vmin : t[m];
            orow[ox + m] = y > vmax ? vmax : y;
          }}
        }}
        for (; ox < wo; ++ox) {{
          float acc = bias[c];
{scalar_terms}
          float y = acc < vmin ? vmin : acc;
          orow[ox] = y > vmax ? vmax : y;
        }}{done}
      }}
    }}{finish}
  }}
}}
"""

        entry = "/* Called from MLIR with 1-D memrefs expanded (base, aligned, offset, size, stride). */\nvoid " + n
        if L * 4 != CACHE_LINE:
            return body(entry, False)
        # A vector is a cache line (16 lanes): once two workgroups of this kernel have run at
        # the same time (IREE's local-task device with several workers; each loaded copy of
        # the executable has its own flag), rows are streamed out with non-temporal stores (no
        # read-for-ownership of lines another core holds; see spmm.py). Until then (local-sync,
        # one worker) they are stored in place, where the next layer finds them in cache. Two
        # copies of the body: a runtime flag inside the loops cost ~15% on one thread.
        return (stream_writer(n, vt)
                + body(f"static void {n}_in_place", False)
                + body(f"static void {n}_streamed", True)
                + f"""
{entry}({params}) {{
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
""")

STAGE = 1024  # floats of output rows staged on the stack before they are streamed out


def render_source(variants) -> str:
    from .spmm import PRELUDE

    body = "".join(v.render() for v in sorted(set(variants), key=lambda v: v.name))
    return PRELUDE + body
