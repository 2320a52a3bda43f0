"""Time per inference of one model on wasm32 (IREE's wasm code in Wasmtime, via the host twin)
against the host target (native code, same IREE flags), median of several runs.

    .venv/bin/python bench/wasm_vs_host.py [MODEL] [--runs N]

Compiles both artifacts (or reuses --wasm/--host .vmfb files), warms each up once (the Wasmtime
JIT and the one-time copy of the weights into wasm memory happen at load and in the warm-up, so
they are outside the timed runs), then prints the median and the bridge's split of the wasm time:
copying bindings in, running wasm, writing changed bytes back.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import spiree
from spiree.pipeline.wasm import binding
from spiree.pipeline.artifact import Artifact


def _time(model, x, runs: int) -> list[float]:
    model(x)  # warm-up
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        model(x)
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", nargs="?", default="mobilenet_v1")
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--wasm", help="existing wasm32 .vmfb (with its .json)")
    p.add_argument("--host", help="existing host .vmfb (with its .json)")
    args = p.parse_args()

    arts = {}
    for target, path in (("wasm32", args.wasm), ("host", args.host)):
        arts[target] = Artifact.load(path) if path else spiree.compile(args.model, target=target)
    x = np.random.default_rng(0).standard_normal(arts["host"].inputs[0].shape).astype(np.float32)

    host = _time(spiree.load(arts["host"]), x, args.runs)
    wasm_model = spiree.load(arts["wasm32"])
    wasm_model(x)
    binding.stats(reset=True)
    wasm = _time(wasm_model, x, args.runs)
    s = binding.stats()
    n = args.runs + 1  # the warm-up inside _time is counted by the bridge too
    print(f"{args.model}: median of {args.runs} runs, 1 thread (local-sync)")
    print(f"  host   {statistics.median(host) * 1e3:8.1f} ms")
    print(f"  wasm32 {statistics.median(wasm) * 1e3:8.1f} ms  ({statistics.median(wasm) / statistics.median(host):.2f}x host)")
    print(f"    per inference: wasm {s.wasm_s / n * 1e3:.1f} ms, copy in {s.copy_in_s / n * 1e3:.1f} ms "
          f"({s.bytes_in / n / 1e6:.1f} MB), write back {s.copy_out_s / n * 1e3:.1f} ms "
          f"({s.bytes_out / n / 1e6:.1f} MB), {s.dispatches // n} dispatches")


if __name__ == "__main__":
    main()
