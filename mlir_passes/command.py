"""The command line of a pass file: `python -m spiree.mlir_passes.NAME IN.mlir [--target T]`
prints the IR after the pass on stdout and its per-layer report (one JSON row a line) on
stderr."""
from __future__ import annotations

import argparse
import json
import sys

from ..targets import get_target
from . import ir as mir
from .options import PassOptions
from .report import PassReport


def main_for(pass_module, argv=None) -> int:
    ap = argparse.ArgumentParser(prog=f"python -m {pass_module.__name__}", description=pass_module.__doc__.splitlines()[0])
    ap.add_argument("input", help=".mlir text or .mlirbc bytecode ('-' for stdin)")
    ap.add_argument("--target", default="host")
    args = ap.parse_args(argv)
    data = sys.stdin.read() if args.input == "-" else open(args.input, "rb").read()
    module = mir.parse_module(data)
    report = PassReport()
    pass_module.run(module, PassOptions(target=get_target(args.target)), report)
    print(module.operation.get_asm(large_elements_limit=64))
    for row in report.to_json():
        print(json.dumps(row), file=sys.stderr)
    return 0
