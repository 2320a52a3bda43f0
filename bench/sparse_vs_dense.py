#!/usr/bin/env python
"""Sparse vs dense MobileNet-v1 on the same target, timed side by side in one run.

    .venv/bin/python bench/sparse_vs_dense.py [--quick] [--json out.json] [--plot out.png]

MobileNet-v1 224, batch 1, one thread (IREE local-sync), random weights pruned one-shot with
G=4 balanced. For each sparsity, the *same pruned weights* are compiled three times by the same
IREE: sparse (spiree's passes and kernels exploiting the zeros), dense (spiree's best dense
build: the same kernels with every layer dense) and iree (IREE alone with spiree's dense
preprocessing flags). They are timed alternately, medians over the repeats after a warm-up.
The per-layer view sums the 1x1-convolution dispatches of each build (IREE's per-dispatch
statistics): `pointwise_*` in spiree builds, `matmul_like*` in the IREE-only build.
`flop_limit` is the end-to-end speedup if the removed multiply-adds cost nothing and the rest
stayed as it is in the dense build (1 / (1 - removed MACs / all MACs)).
Reference rows in the same run: ONNX Runtime (dense, 1 intra-op thread) and PyTorch eager
(1 thread), if installed (`pip install -e .[bench]`).
"""
from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

from spiree.models.registry import load_model, parse_model_source
from spiree.pipeline.benchmark import alternate, dispatch_profile
from spiree.pipeline.build import BuildOptions, build
from spiree.pipeline.inspect import layer_table
from spiree.targets import get_target


def median_profiles(builds, x, target, *, repeats: int) -> dict[str, dict[str, float]]:
    """Per-dispatch times of each build, the median of `repeats` alternating profiles."""
    runs = {k: [] for k in builds}
    for _ in range(repeats):
        for k, a in builds.items():
            runs[k].append(dispatch_profile(a.vmfb, [x], target))
    return {k: {name: statistics.median(p.get(name, 0.0) for p in ps) for name in ps[0]} for k, ps in runs.items()}


def wasm_split(vmfb: bytes, x, target, calls: int = 3) -> dict[str, float]:
    """wasm32: milliseconds per inference inside wasm vs copying bindings in and out of wasm
    memory (the bridge's counters), so the copy overhead is reported apart."""
    from spiree.pipeline import wasm_runner
    from spiree.pipeline.runtime import make_runner

    run = make_runner(vmfb, "main", target)
    run(x)
    wasm_runner.stats(reset=True)
    for _ in range(calls):
        run(x)
    st = wasm_runner.stats(reset=True)
    return {"wasm_ms": round(st.wasm_s / calls * 1e3, 3),
            "copy_ms": round((st.copy_in_s + st.copy_out_s) / calls * 1e3, 3)}


def pointwise_ms(prof: dict[str, float]) -> float:
    """Time of the 1x1 convolutions: spiree's pointwise_* dispatches (its classifier is linear_*)
    plus IREE's matmul-like dispatches of 1x1 convs (IREE's classifier matmul_1x1000 is not
    matmul-like)."""
    return sum(v for k, v in prof.items() if k.startswith("pointwise_") or "matmul_like" in k)


def onnxruntime_ms(model, x, repeats) -> float | None:
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (torch.from_numpy(x),), str(path), input_names=["x"], dynamo=False)
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        return _median_ms(lambda: sess.run(None, {"x": x}), repeats)


def eager_ms(model, x, repeats) -> float:
    torch.set_num_threads(1)
    xt = torch.from_numpy(x)
    with torch.no_grad():
        return _median_ms(lambda: model(xt), repeats)


def _median_ms(fn, repeats) -> float:
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(5):
            fn()
        times.append((time.perf_counter() - t0) / 5 * 1e3)
    return statistics.median(times)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", default="host", help="target to time on (default host)")
    ap.add_argument("--sparsities", default="0,0.3,0.5,0.7,0.9")
    ap.add_argument("--group", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--quick", action="store_true", help="sparsity 0.7 only, 3 repeats (about a minute)")
    ap.add_argument("--json", help="write the rows as JSON here")
    ap.add_argument("--plot", help="write a PNG of speedup vs sparsity here")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    sparsities = [0.7] if args.quick else [float(s) for s in args.sparsities.split(",")]
    profile_repeats = 1 if args.quick else 3
    repeats = 3 if args.quick else args.repeats
    target = get_target(args.target)
    base = load_model(parse_model_source("mobilenet_v1"))
    x = base.example_inputs[0].numpy()
    layers = layer_table(base.module, base.example_inputs)
    total_macs = sum(l.macs for l in layers)

    rows = []
    print(f"MobileNet-v1 224, batch 1, 1 thread, target {target.name}, G={args.group}, "
          f"medians of {repeats} alternating repeats", flush=True)
    print(f"{'sparsity':>8} {'iree ms':>8} {'dense ms':>9} {'sparse ms':>10} {'speedup':>8} {'flop limit':>10} "
          f"{'1x1 iree':>9} {'1x1 dense':>10} {'1x1 sparse':>11} {'1x1 vs dense':>12} {'1x1 vs iree':>11} "
          f"{'sparse 1x1':>10} {'vmfb MB d/s':>12}")
    for s in sparsities:
        opts = dict(sparsity=s, group=args.group) if s > 0 else {}
        builds = {k: build(base, target, options=BuildOptions(kernels=k, **opts)) for k in ("iree", "dense", "sparse")}
        # With no layer worth exploiting, the sparse build is byte-identical to the dense one: time
        # that program once and report it for both (the per-layer fallback in action).
        same = builds["sparse"].vmfb == builds["dense"].vmfb
        timed = {k: a.vmfb for k, a in builds.items() if not (same and k == "sparse")}
        times = alternate(timed, [x], target, repeats=repeats)
        if same:
            times["sparse"] = times["dense"]
        med = {k: statistics.median(v) for k, v in times.items()}
        d, sp = med["dense"], med["sparse"]
        sparse = builds["sparse"]
        flop_limit = total_macs / (total_macs - _removed_macs(sparse.manifest))
        prof = median_profiles({k: builds[k] for k in timed}, x, target, repeats=profile_repeats)
        if same:
            prof["sparse"] = prof["dense"]
        pw = {k: pointwise_ms(p) for k, p in prof.items()}
        n_sparse = sum(1 for r in sparse.manifest["passes"] if r["decision"] == "sparse")
        row = dict(model="mobilenet_v1", target=target.name, sparsity=s, group=args.group,
                   dense_ms=round(d, 3), sparse_ms=round(sp, 3), speedup=round(d / sp, 3),
                   flop_limit=round(flop_limit, 3), iree_dense_ms=round(med["iree"], 3),
                   speedup_vs_iree=round(med["iree"] / sp, 3),
                   pointwise_iree_ms=round(pw["iree"], 3), pointwise_dense_ms=round(pw["dense"], 3),
                   pointwise_sparse_ms=round(pw["sparse"], 3),
                   pointwise_speedup=_ratio(pw["dense"], pw["sparse"]),
                   pointwise_speedup_vs_iree=_ratio(pw["iree"], pw["sparse"]),
                   sparse_layers=n_sparse, sparse_is_dense_binary=same, vmfb_dense_bytes=len(builds["dense"].vmfb),
                   vmfb_sparse_bytes=len(sparse.vmfb),
                   times_ms={k: [round(t, 3) for t in v] for k, v in times.items()},
                   profile_ms={k: {n: round(t, 4) for n, t in p.items()} for k, p in prof.items()})
        if target.runner == "wasm":
            row["wasm_split"] = {k: wasm_split(builds[k].vmfb, x, target) for k in ("dense", "sparse")}
        rows.append(row)
        print(f"{s:>8.2f} {med['iree']:>8.2f} {d:>9.2f} {sp:>10.2f} {d / sp:>7.2f}x {flop_limit:>9.2f}x "
              f"{pw['iree']:>9.2f} {pw['dense']:>10.2f} {pw['sparse']:>11.2f} {row['pointwise_speedup'] or float('nan'):>11.2f}x "
              f"{row['pointwise_speedup_vs_iree'] or float('nan'):>10.2f}x {n_sparse:>10} "
              f"{len(builds['dense'].vmfb) / 1e6:>5.1f}/{len(sparse.vmfb) / 1e6:<5.1f}", flush=True)
        if "wasm_split" in row:
            print("         " + "; ".join(f"{k}: {v['wasm_ms']:.1f} ms in wasm + {v['copy_ms']:.1f} ms copying"
                                        for k, v in row["wasm_split"].items()), flush=True)

    refs = []
    ort = onnxruntime_ms(base.module, x, repeats)
    refs.append(dict(model="mobilenet_v1", engine="onnxruntime (dense, 1 thread)", ms=None if ort is None else round(ort, 3)))
    refs.append(dict(model="mobilenet_v1", engine="pytorch eager (dense, 1 thread)", ms=round(eager_ms(base.module, x, repeats), 3)))
    for r in refs:
        print(f"reference: {r['engine']}: " + ("not installed (pip install -e .[bench])" if r["ms"] is None else f"{r['ms']:.2f} ms"))
    if args.json:
        Path(args.json).write_text(json.dumps(rows + [dict(r, reference=True) for r in refs], indent=2) + "\n")
        print(f"wrote {args.json}")
    if args.plot:
        _plot(rows, args.plot)
        print(f"wrote {args.plot}")
    return 0


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b else None


def _removed_macs(manifest) -> int:
    """Multiply-adds whose weights are zero, from the manifest's per-layer table."""
    return int(sum(l["macs"] * l["sparsity"] for l in manifest["layers"]))


def _plot(rows, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = [r["sparsity"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(s, [r["speedup"] for r in rows], "o-", label="end to end (sparse / dense)")
    ax.plot(s, [r["pointwise_speedup"] for r in rows], "s-", label="1x1 layers")
    ax.plot(s, [r["speedup_vs_iree"] for r in rows], "^:", label="end to end vs IREE alone")
    ax.plot(s, [r["flop_limit"] for r in rows], "k--", label="FLOP limit (end to end)")
    ax.axhline(1.0, color="grey", lw=0.5)
    ax.set_xlabel("sparsity (G=%d)" % rows[0]["group"])
    ax.set_ylabel("speedup over spiree dense")
    ax.set_title(f"MobileNet-v1 on {rows[0]['target']}, 1 thread")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    sys.exit(main())
