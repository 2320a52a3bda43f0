"""The `spiree` command line: compile, run, bench, prune, inspect, android, targets.

Exit codes: 0 ok, 1 failure (one `spiree: error: ...` line), 2 usage error.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np

from spiree.pipeline.device import DEVICES
from spiree.pipeline.options import Kernels

log = logging.getLogger("spiree")


def _model_options(args) -> dict:
    opts = {}
    for key in ("width", "resolution", "num_classes", "batch"):
        v = getattr(args, key, None)
        if v is not None:
            opts[key] = v
    return opts


def _add_model_args(p: argparse.ArgumentParser, *, optional: bool = False) -> None:
    p.add_argument("model", help="registry name (see `spiree inspect --list`), a .pt2 file, or package.module:factory",
                   **({"nargs": "?"} if optional else {}))
    p.add_argument("--width", type=float, help="width multiplier (registry models)")
    p.add_argument("--resolution", type=int, help="input resolution (registry models)")
    p.add_argument("--num-classes", type=int, help="classifier outputs (registry models)")
    p.add_argument("--batch", type=int, help="batch size of the compiled entry point (registry models)")
    p.add_argument("--weights", help="state_dict file (torch.save); default: random weights")
    p.add_argument("--seed", type=int, default=0, help="seed for random weights and inputs (default 0)")


def _add_prune_args(p: argparse.ArgumentParser, *, required: bool) -> None:
    p.add_argument("--sparsity", type=float, required=required,
                   help="fraction of weights to remove from each pruned layer, in [0, 1)"
                   + ("" if required else "; prunes one-shot before compiling"))
    p.add_argument("--group", type=int, help="G: output channels sharing one set of positions, 1/2/4/8 (default 4)")
    p.add_argument("--unbalanced", action="store_true", help="let groups keep different numbers of positions")
    p.add_argument("--rearrange", action="store_true",
                   help="permute channels first so similar channels share a group (same function)")


def _prune_options(args):
    from spiree.pipeline.prune import PruneOptions

    if args.sparsity is None:
        given = [f for f, v in (("--group", args.group is not None), ("--unbalanced", args.unbalanced),
                                ("--rearrange", args.rearrange)) if v]
        if given:
            raise ValueError(f"{', '.join(given)} only {'applies' if len(given) == 1 else 'apply'} when pruning: add --sparsity S (e.g. 0.7)")
        return None
    return PruneOptions(args.sparsity, 4 if args.group is None else args.group, not args.unbalanced,
                        args.rearrange, ranking=getattr(args, "ranking", "layer"))


def cmd_targets(args) -> int:
    from spiree.targets import TARGETS

    rows = [("name", "triple", "features", "f32 lanes", "runs here via", "description")]
    for t in TARGETS.values():
        how = {"in-process": "iree.runtime", "qemu": "native" if t.is_native else "qemu-aarch64",
               "wasm": "wasmtime (host twin)"}[t.runner]
        rows.append((t.name, t.triple, t.cpu_features, str(t.vector_f32_lanes), how, t.description))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    return 0


def cmd_compile(args) -> int:
    from spiree.pipeline.api import as_loaded_model
    from spiree.pipeline.build import build
    from spiree.pipeline.options import BuildOptions
    from spiree.targets import get_target

    target = get_target(args.target)
    out = Path(args.output)
    if out.suffix != ".vmfb":
        raise ValueError(f"output must end in .vmfb, got {out}: pass -o NAME.vmfb")
    t0 = time.perf_counter()
    po = _prune_options(args)
    loaded = as_loaded_model(args.model, options=_model_options(args), weights=args.weights, seed=args.seed)
    artifact = build(loaded, target, options=BuildOptions(
        kernels=Kernels.parse(args.kernels, what="--kernels"), prune=po,
        emit_mlir=Path(args.emit_mlir) if args.emit_mlir else None))
    artifact.save(out)
    m = artifact.manifest
    print(f"wrote {out} ({len(artifact.vmfb) / 1e6:.1f} MB, target {target.name}, "
          f"{m['macs'] / 1e6:.1f}M MACs, {m['parameters']:,} parameters) and {out.with_suffix('.json')} "
          f"in {time.perf_counter() - t0:.1f} s")
    if args.report:
        print(artifact.report())
    return 0


def cmd_run(args) -> int:
    from spiree.pipeline.api import load
    from spiree.pipeline.artifact import Artifact
    from spiree.pipeline.check import top_k
    from spiree.pipeline.errors import RunError

    artifact = Artifact.load(args.artifact)
    model = load(artifact, target=args.target, device=args.device, threads=_threads(args))
    if args.input:
        try:
            inputs = [np.load(p) for p in args.input]
        except (OSError, ValueError) as e:
            raise RunError(f"cannot read input {args.input}: {e}; pass .npy files written by numpy.save") from None
    else:
        inputs = [_random_input(s, artifact.manifest["model"].get("seed", 0)) for s in artifact.inputs]
    log.info("run: executing %s on target %s (%s) ...", Path(args.artifact).name, model.target.name, model.device_info)
    t0 = time.perf_counter()
    y = model(*inputs)
    log.info("run: done in %.2f s", time.perf_counter() - t0)
    outputs = y if isinstance(y, list) else [y]
    for i, o in enumerate(outputs):
        print(f"output{i}: {o.dtype}{list(o.shape)}" + (f", top-5 {top_k(o, 5)}" if o.ndim == 2 else ""))
    if args.output:
        np.save(args.output, outputs[0])
        print(f"wrote {args.output}")
    if args.check:
        return _check(artifact, inputs, outputs, atol=args.atol)
    return 0


def _threads(args) -> int | None:
    """--threads N as a count >= 1; one `spiree: error:` line for anything else."""
    from spiree.pipeline.device import check_threads

    if args.threads is None:
        return None
    try:
        value = int(args.threads)
    except ValueError:
        value = args.threads
    return check_threads(value, what="--threads")


def _add_threads_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", metavar="N", help="threads to run on: 1 = the calling thread (local-sync), "
                   "N > 1 = IREE's local-task device with N workers (default: --device's)")


def _random_input(spec, seed: int) -> np.ndarray:
    import torch

    gen = torch.Generator().manual_seed(seed + 1)
    return torch.randn(*spec.shape, generator=gen).numpy().astype(spec.dtype)


def _check(artifact, inputs, outputs, *, atol: float) -> int:
    from spiree.pipeline.check import compare
    from spiree.pipeline.reference import reference_outputs

    log.info("check: rebuilding the PyTorch reference from the manifest ...")
    checks = compare(outputs, reference_outputs(artifact.manifest, inputs), atol=atol)
    for c in checks:
        print(c.line())
    ok = all(c.passed for c in checks)
    print("check: PASSED" if ok else "check: FAILED (outputs differ from PyTorch beyond the tolerance)")
    return 0 if ok else 1


def cmd_android(args) -> int:
    from spiree.pipeline.android import next_steps, write_bundle
    from spiree.pipeline.artifact import Artifact

    t0 = time.perf_counter()
    po = _prune_options(args)
    if args.model.endswith(".vmfb"):
        if po is not None:
            raise ValueError("--sparsity applies when compiling a model, not to an already compiled .vmfb: "
                             "pass the model instead")
        artifact = Artifact.load(args.model)
    else:
        from spiree.pipeline.api import as_loaded_model
        from spiree.pipeline.build import build
        from spiree.pipeline.options import BuildOptions

        loaded = as_loaded_model(args.model, options=_model_options(args), weights=args.weights, seed=args.seed)
        artifact = build(loaded, "arm64", options=BuildOptions(prune=po))
    bundle = write_bundle(artifact, args.output, assets_only=args.assets_only)
    m = artifact.manifest
    sig = ", ".join(f"{s['name']} {s['dtype']}{s['shape']}" for s in m["inputs"]) + " -> " + \
        ", ".join(f"{s['name']} {s['dtype']}{s['shape']}" for s in m["outputs"])
    print(f"wrote {'Android module ' + str(bundle.module_dir) if bundle.wrote_module else 'model assets'} "
          f"in {time.perf_counter() - t0:.1f} s:\n  {bundle.vmfb} ({len(artifact.vmfb) / 1e6:.1f} MB, target "
          f"{m['target']}, @{m['entry']}: {sig})\n  {bundle.manifest}")
    print(next_steps(bundle))
    return 0


def cmd_prune(args) -> int:
    import dataclasses
    import warnings

    import torch

    from spiree.models.registry import eval_mode
    from spiree.pipeline.api import as_loaded_model
    from spiree.pipeline.fsutil import publish_file
    from spiree.pipeline.prune import prune

    out = Path(args.output)
    if out.suffix != ".pt2":
        raise ValueError(f"output must end in .pt2, got {out}: pass -o NAME.pt2")
    po = _prune_options(args)
    config = [n.strip() for n in args.layers.split(",") if n.strip()] if args.layers else None
    loaded = as_loaded_model(args.model, options=_model_options(args), weights=args.weights, seed=args.seed)
    t0 = time.perf_counter()
    source = loaded.module
    if loaded.spec.kind == "pt2" and not loaded.spec.weights:
        source = torch.export.load(loaded.spec.source)  # prune the program itself, keep its graph
    result = prune(source, po, config=config)
    for l in result.layers:
        log.info("prune: %-20s %-8s G=%d sparsity %.3f, %.1f%% of its magnitude kept", l["name"], l["kind"],
                 l["group"], l["zeros"], 100 * l["energy_kept"])
    kept = f"{result.energy_kept:.1%} of their magnitude kept"
    if po.rearrange:
        plain = prune(source, dataclasses.replace(po, rearrange=False), config=config)
        kept += f" ({plain.energy_kept:.1%} without rearrangement)"
    ep = result.model
    if not isinstance(ep, torch.export.ExportedProgram):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ep = torch.export.export(eval_mode(result.model), tuple(loaded.example_inputs), strict=False)
    publish_file(out, lambda tmp: torch.export.save(ep, tmp))
    print(f"wrote {out}: {len(result.layers)} layer(s) pruned to G={po.group} "
          f"{'balanced' if po.balanced else 'unbalanced'}, {result.zeros:.1%} of their weights zero, {kept}, "
          f"in {time.perf_counter() - t0:.1f} s")
    return 0


def cmd_list_models() -> int:
    from spiree.models.registry import REGISTRY

    rows = [("name", "defaults", "description")]
    for name, e in REGISTRY.items():
        rows.append((name, " ".join(f"{k}={v}" for k, v in e.defaults.items()), e.description))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    return 0


def cmd_inspect(args) -> int:
    from spiree.pipeline.inspect import format_table, LayerInfo

    if args.list:
        if args.model is not None:
            raise ValueError(f"--list takes no model (got {args.model!r}): run `spiree inspect --list` alone")
        return cmd_list_models()
    if args.model is None:
        raise ValueError("inspect needs a MODEL (registry name, .pt2 file, factory or .vmfb): "
                         "`spiree inspect --list` lists the registry")
    if args.model.endswith(".vmfb"):
        from spiree.pipeline.artifact import Artifact

        a = Artifact.load(args.model)
        m = a.manifest
        print(f"artifact {args.model}: target {m['target']} ({m['triple']}), entry @{m['entry']}, "
              f"{len(a.vmfb) / 1e6:.1f} MB")
        print("inputs:  " + ", ".join(f"{s.name} {s.dtype}{list(s.shape)}" for s in a.inputs))
        print("outputs: " + ", ".join(f"{s.name} {s.dtype}{list(s.shape)}" for s in a.outputs))
        print(f"model: {m['model']['kind']} {m['model']['source']}; versions: "
              + ", ".join(f"{k} {v}" for k, v in m["versions"].items()))
        layers = [LayerInfo(**{k: tuple(v) if isinstance(v, list) else v for k, v in l.items()}) for l in m["layers"]]
    else:
        from spiree.pipeline.api import as_loaded_model
        from spiree.pipeline.inspect import layer_table, parameter_count

        loaded = as_loaded_model(args.model, options=_model_options(args), weights=args.weights, seed=args.seed)
        layers = layer_table(loaded.module, loaded.example_inputs)
        print(f"model {loaded.spec.display_name}: input "
              + ", ".join(f"{list(x.shape)}" for x in loaded.example_inputs))
        print(f"{sum(l.macs for l in layers) / 1e6:.1f}M multiply-adds, "
              f"{parameter_count(loaded.module):,} parameters (BatchNorm included)")
    print(format_table(layers))
    return 0


def cmd_bench(args) -> int:
    import json

    from spiree.pipeline.bench import BenchOptions, bench

    threads = _threads(args)
    try:
        sparsities = tuple(float(v) for v in args.sparsities.split(",") if v.strip())
    except ValueError:
        raise ValueError(f"--sparsities must be comma-separated numbers in [0, 1), e.g. 0,0.7,0.9, "
                         f"got {args.sparsities!r}") from None
    options = BenchOptions(target=args.target, sparsities=sparsities, group=args.group,
                           threads=1 if threads is None else threads, repeats=args.repeats, warmup=args.warmup)
    for path, suffix in ((args.json, ".json"), (args.plot, ".png")):
        if path and Path(path).suffix != suffix:
            raise ValueError(f"{path} must end in {suffix}")
    if args.model.endswith(".vmfb") and (args.width or args.resolution or args.num_classes or args.batch
                                         or args.weights):
        raise ValueError("model options apply to a model, not to a compiled .vmfb (its manifest names its model)")
    result = bench(args.model, options, model_options=_model_options(args), weights=args.weights, seed=args.seed)
    print(result.format())
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result.to_json(), indent=2) + "\n")
        print(f"wrote {args.json}")
    if args.plot:
        print(f"wrote {result.plot(args.plot)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="spiree", description="Compile pruned PyTorch CNNs with IREE for arm64 and wasm32.")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="debug logging, and the warnings and log messages of torch and IREE")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    c = sub.add_parser("compile", help="compile a model to a .vmfb (+ .json manifest)")
    _add_model_args(c)
    c.add_argument("--target", default="host", help="target name (see `spiree targets`; default host)")
    c.add_argument("-o", "--output", required=True, help="output .vmfb path")
    c.add_argument("--emit-mlir", metavar="DIR", help="save the IR after each MLIR stage into DIR")
    c.add_argument("--kernels", default=Kernels.SPARSE.value, choices=[k.value for k in Kernels],
                   help="sparse: spiree kernels exploiting zeros (default); dense: the same kernels, every "
                        "layer dense (baseline); iree: IREE alone")
    c.add_argument("--report", action="store_true", help="print the per-layer sparse/dense decisions")
    _add_prune_args(c, required=False)
    c.set_defaults(func=cmd_compile)

    r = sub.add_parser("run", help="run a compiled artifact (numpy .npy in/out)")
    r.add_argument("artifact", help="a .vmfb written by `spiree compile` (its .json beside it)")
    r.add_argument("--target", help="target to run on (default: the one in the manifest)")
    r.add_argument("--device", choices=DEVICES,
                   help="IREE CPU device: local-sync (one thread, default) or local-task (a worker per core, "
                        "or --threads N)")
    _add_threads_arg(r)
    r.add_argument("--input", action="append", help=".npy input (repeat for several); default: seeded random")
    r.add_argument("--output", help="write the first output to this .npy")
    r.add_argument("--check", action="store_true", help="compare against PyTorch; exit 1 beyond tolerance")
    r.add_argument("--atol", type=float, default=1e-4, help="absolute tolerance for --check (default 1e-4)")
    r.set_defaults(func=cmd_run)

    pr = sub.add_parser("prune", help="prune a model to the group-sparse pattern, write a .pt2")
    _add_model_args(pr)
    _add_prune_args(pr, required=True)
    pr.add_argument("--ranking", choices=("layer", "global"), default="layer",
                    help="layer: every layer to --sparsity (default); global: one ranking, each layer keeps >= 5%%")
    pr.add_argument("--layers", metavar="NAMES", help="comma-separated module names to prune (default: every "
                    "1x1 Conv2d and Linear, and KxK Conv2d (groups=1) with >= 32 positions)")
    pr.add_argument("-o", "--output", required=True, help="output .pt2 path (torch.export, with example inputs)")
    pr.set_defaults(func=cmd_prune)

    i = sub.add_parser("inspect", help="per-layer table of a model or an artifact")
    _add_model_args(i, optional=True)
    i.add_argument("--list", action="store_true", help="list the registry's models and their default options")
    i.set_defaults(func=cmd_inspect)

    a = sub.add_parser("android", help="compile for arm64 into an Android library module (Java API + JNI)",
                       description="MODEL may also be an arm64 .vmfb from `spiree compile` (its .json beside it).")
    _add_model_args(a)
    _add_prune_args(a, required=False)
    a.add_argument("-o", "--output", required=True, metavar="DIR",
                   help="module directory to write (model in DIR/src/main/assets/spiree/)")
    a.add_argument("--assets-only", action="store_true",
                   help="write only src/main/assets/spiree/model.{vmfb,json} into DIR (an existing module)")
    a.set_defaults(func=cmd_android)

    b = sub.add_parser("bench", help="time dense, sparse and IREE-alone builds of a model side by side",
                       description="Compiles (or loads) dense, sparse and IREE-alone builds of MODEL for a target, "
                                   "times them alternately (medians), next to ONNX Runtime on the same weights "
                                   "and threads when installed, and shows where the time goes. MODEL may also be a "
                                   ".vmfb from `spiree compile` (the dense and IREE builds are then compiled from "
                                   "the model its manifest names).")
    _add_model_args(b)
    b.add_argument("--target", help="host, wasm32 or arm64 (default: host, or the .vmfb's own target; arm64 "
                   "runs under emulation on a non-arm64 machine: not speed)")
    b.add_argument("--sparsities", default="0,0.7,0.9", help="sparse builds to compare, comma-separated "
                   "(default 0,0.7,0.9; 0 = not pruned)")
    b.add_argument("--group", type=int, default=4, help="G of the pruned builds (default 4)")
    _add_threads_arg(b)
    b.add_argument("--repeats", type=int, default=10, help="timed rounds (default 10)")
    b.add_argument("--warmup", type=int, default=1, help="untimed rounds first (default 1)")
    b.add_argument("--json", metavar="OUT.json", help="write per-build medians, ratios, split and decisions here")
    b.add_argument("--plot", metavar="OUT.png", help="write a bar chart here (needs matplotlib: pip install -e .[bench])")
    b.set_defaults(func=cmd_bench)

    t = sub.add_parser("targets", help="list the compilation targets")
    t.set_defaults(func=cmd_targets)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from spiree.pipeline import quiet
    from spiree.pipeline.errors import SpireeError

    quiet.setup_logging(logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO)
    with quiet.capture(echo=args.verbose) as messages:  # torch/IREE warnings and logs, see quiet.py
        try:
            return args.func(args)
        except (SpireeError, ValueError) as e:
            where = ""
            if messages:
                kept = quiet.keep(messages, getattr(e, "repro_dir", None))
                where = f" (torch/IREE messages kept in {kept})"
            print(f"spiree: error: {e}{where}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("spiree: interrupted", file=sys.stderr)
            return 1


if __name__ == "__main__":
    sys.exit(main())
