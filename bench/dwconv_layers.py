"""Per-layer C-level timing of the depthwise kernel on the real network shapes (one thread),
optionally against another checkout's template (A/B alternating, medians).

    .venv/bin/python bench/dwconv_layers.py [--old /work/main] [--net mobilenet_v1|efficientnet_b0|all]

Each layer is timed as IREE runs it: the N x C planes split into 8 workgroup ranges, called one
after the other, timed in thread CPU time (the machine is shared); the inputs are random, the output buffer is reused. Each round places the input at
another 64-byte offset (times depend on it), and old and new alternate; medians over rounds."""
from __future__ import annotations

import argparse
import ctypes
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from spiree.mlir_passes.kernels import prelude  # noqa: E402
from spiree.mlir_passes.kernels.dwconv import DwconvVariant  # noqa: E402
from spiree.mlir_passes.kernels.xngen import render  # noqa: E402
from tests.kernels.cabi import build  # noqa: E402

# (name, channels, h (= w), k, s, activation)
MOBILENET_V1 = [("mb1 112x32 s1", 32, 112, 3, 1, "minmax"), ("mb1 112->56 x64 s2", 64, 112, 3, 2, "minmax"),
                ("mb1 56x128 s1", 128, 56, 3, 1, "minmax"), ("mb1 56->28 x128 s2", 128, 56, 3, 2, "minmax"),
                ("mb1 28x256 s1", 256, 28, 3, 1, "minmax"), ("mb1 28->14 x256 s2", 256, 28, 3, 2, "minmax"),
                ("mb1 14x512 s1 (x5)", 512, 14, 3, 1, "minmax"), ("mb1 14->7 x512 s2", 512, 14, 3, 2, "minmax"),
                ("mb1 7x1024 s1", 1024, 7, 3, 1, "minmax")]
EFFICIENTNET_B0 = [("eb0 112x32 k3", 32, 112, 3, 1, "silu"), ("eb0 112->56 x96 k3 s2", 96, 112, 3, 2, "silu"),
                   ("eb0 56x144 k3", 144, 56, 3, 1, "silu"), ("eb0 56->28 x144 k5 s2", 144, 56, 5, 2, "silu"),
                   ("eb0 28x240 k5", 240, 28, 5, 1, "silu"), ("eb0 28->14 x240 k3 s2", 240, 28, 3, 2, "silu"),
                   ("eb0 14x480 k3 (x2)", 480, 14, 3, 1, "silu"), ("eb0 14x480 k5", 480, 14, 5, 1, "silu"),
                   ("eb0 14x672 k5 (x2)", 672, 14, 5, 1, "silu"), ("eb0 14->7 x672 k5 s2", 672, 14, 5, 2, "silu"),
                   ("eb0 7x1152 k5 (x3)", 1152, 7, 5, 1, "silu"), ("eb0 7x1152 k3", 1152, 7, 3, 1, "silu")]
REPEATS = {"(x5)": 5, "(x2)": 2, "(x3)": 3}

HARNESS = r"""
#define _POSIX_C_SOURCE 199309L
#include <stddef.h>
#include <time.h>
typedef void (*spiree_dw_fn)(const float*, const float*, size_t, size_t, size_t, const float*, const float*, size_t,
    size_t, size_t, const float*, const float*, size_t, size_t, size_t, float*, float*, size_t, size_t, size_t,
    size_t, size_t, size_t, size_t, size_t, size_t, size_t, size_t, size_t, float, float);
double spiree_bench_dw(spiree_dw_fn fn, const float* x, size_t xs, const float* w, size_t ws, const float* b,
                       size_t bs, float* o, size_t os, size_t c, size_t h, size_t wd, size_t pt, size_t pb, size_t pl,
                       size_t pr, size_t units, size_t groups, int reps, float vmin, float vmax) {
  struct timespec t0, t1;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
  for (int r = 0; r < reps; ++r)
    for (size_t g = 0; g < groups; ++g)
      fn(x, x, 0, xs, 1, w, w, 0, ws, 1, b, b, 0, bs, 1, o, o, 0, os, 1, c, h, wd, pt, pb, pl, pr,
         g * units / groups, (g + 1) * units / groups, vmin, vmax);
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
  return ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / reps / 1e6;
}
"""


def _accumulators(checkout: Path):
    """`accumulators(kernel, stride, lanes)` of another checkout's mlir_passes/kernels/dwconv.py
    (read from its source: the module imports its package)."""
    text = (checkout / "mlir_passes/kernels/dwconv.py").read_text()
    start = text.index("def accumulators(")
    body = text[start:text.index("\n\n\n", start)]
    scope: dict = {}
    exec(body, scope)
    return scope["accumulators"]


def source(template_dirs: dict[str, Path], variants) -> str:
    src = HARNESS + prelude()
    for tag, d in template_dirs.items():
        text = (d / "mlir_passes/kernels/templates/dwconv.c.in").read_text()
        for v in variants:
            from spiree.mlir_passes.kernels.dwconv import SCRATCH_FLOATS, ZERO_FLOATS
            params = dict(NAME=v.name + tag, K=v.kernel, S=v.stride, L=v.lanes, ACT=v.act, SCRATCH=SCRATCH_FLOATS,
                          ZERO=ZERO_FLOATS)
            if tag:
                # the template takes NA from outside: the other checkout's rule
                params["NA"] = _accumulators(d)(v.kernel, v.stride, v.lanes)
                src += render(text, "dwconv.c.in", **params)
            else:
                src += v.render().replace(v.name, v.name + tag)
    return src


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--old", type=Path, help="checkout whose dwconv template is timed as 'old'")
    ap.add_argument("--net", default="mobilenet_v1", choices=["mobilenet_v1", "efficientnet_b0", "all"])
    ap.add_argument("--lanes", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--only", default="")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--act", help="time every layer with this activation instead")
    args = ap.parse_args()
    layers = {"mobilenet_v1": MOBILENET_V1, "efficientnet_b0": EFFICIENTNET_B0,
              "all": MOBILENET_V1 + EFFICIENTNET_B0}[args.net]
    layers = [l[:5] + ((args.act or l[5]),) for l in layers if args.only in l[0]]
    variants = sorted({DwconvVariant(k, s, args.lanes, a) for _, _, _, k, s, a in layers}, key=lambda v: v.name)
    tags = {"": None}
    if args.old:
        tags["_old"] = args.old
    lib = build(source({t: (d or Path(__file__).resolve().parents[1]) for t, d in tags.items()}, variants))
    rng = np.random.default_rng(0)
    totals = {t: 0.0 for t in tags}
    print(f"{'layer':28s} " + " ".join(f"{(t or 'new'):>8s}" for t in tags))
    for name, c, h, k, s, act in layers:
        pad = k // 2
        ho = (h + 2 * pad - k) // s + 1
        pb = (ho - 1) * s + k - pad - h
        # x moves by a different multiple of 64 bytes each round: the time depends on where the
        # input lies relative to the stack and the output (4 KiB aliasing), so rounds sample that
        big = np.zeros(c * h * h + 1024 + 16, np.float32)
        base = (-big.ctypes.data // 4) % 16
        xs = rng.standard_normal(c * h * h).astype(np.float32)
        w = rng.standard_normal(c * k * k).astype(np.float32)
        b = rng.standard_normal(c).astype(np.float32)
        o = np.zeros(c * ho * ho, np.float32)
        vmin, vmax = (0.0, np.inf) if act == "minmax" else (-np.inf, np.inf)
        v = DwconvVariant(k, s, args.lanes, act)
        fn = lib.spiree_bench_dw
        fn.restype = ctypes.c_double
        reps = max(3, int(2e7 // (c * ho * ho * k * k)))
        times = {t: [] for t in tags}
        for rnd in range(args.rounds):
            off = base + (rnd * 11 % 64) * 16
            x = big[off:off + xs.size]
            x[:] = xs
            for t in tags:
                f = ctypes.cast(getattr(lib, v.name + t), ctypes.c_void_p).value
                a = [f, x.ctypes.data, x.size, w.ctypes.data, w.size, b.ctypes.data, b.size, o.ctypes.data, o.size,
                     c, h, h, pad, pb, pad, pb, c, min(8, c), reps]
                times[t].append(fn(*[ctypes.c_void_p(q) if i in (0, 1, 3, 5, 7) else ctypes.c_size_t(q) if i < 18
                                     else ctypes.c_int(q) for i, q in enumerate(a)],
                                   ctypes.c_float(vmin), ctypes.c_float(vmax)))
        if args.verbose:
            print(name, {t or "new": [round(x, 3) for x in ts] for t, ts in times.items()})
        rep = next((n for key, n in REPEATS.items() if key in name), 1)
        med = {t: statistics.median(ts) for t, ts in times.items()}
        for t in tags:
            totals[t] += rep * med[t]
        print(f"{name:28s} " + " ".join(f"{med[t]:8.4f}" for t in tags))
    print(f"{'total (with repeats)':28s} " + " ".join(f"{totals[t]:8.4f}" for t in tags))


if __name__ == "__main__":
    main()
