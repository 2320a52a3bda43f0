#!/usr/bin/env python
"""llvm-mca throughput of each spiree kernel's inner loop on a big and a little Arm core.

    .venv/bin/python bench/arm64_mca.py [--cpus cortex-a76,cortex-a55] [--groups 4]
                                        [--json bench/results/arm64_mca.json]

The kernel variants the arm64 target uses (tile sizes from `targets.get_target("arm64")` as
the passes pick them: the dense pointwise kernel, the group-sparse one with 8- and 16-bit
indices per G, the 3x3 depthwise kernels of stride 1 and 2) are rendered with
`kernels.render_sources` and compiled by clang exactly as for the artifacts (the same flags:
`kernels.COMMON_CFLAGS` + the target's `kernel_cflags`), but to assembly (`-S`). In each kernel
function the *hot loop* is the innermost loop (a backward branch with no loop inside it) with
the most floating-point work (the one with the fewest instructions among equals); its body, label to branch, is what llvm-mca simulates
(`-mtriple=aarch64 -mcpu=CPU -iterations=N`). Reported per kernel and core:
- cycles per iteration: llvm-mca's total cycles / iterations (steady state of the loop body);
- FLOP per iteration: counted from the loop's instructions (a 4-lane FMA is 8, a 4-lane
  multiply or add 4, scalar FMA 2, scalar multiply or add 1);
- FLOP/cycle = the two divided, next to the core model's own peak: a last row simulates a loop
  of independent 4-lane FMAs on the same model.

What this is not: llvm-mca models the core's pipeline (issue, ports, latencies) for the loop body
only, with every load hitting L1, branches predicted, and no frontend or memory stalls.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from spiree.mlir_passes.kernels import COMMON_CFLAGS, clang, render_sources
from spiree.mlir_passes.kernels.dwconv import DwconvVariant
from spiree.mlir_passes.kernels.spmm import DENSE, SpmmVariant
from spiree.mlir_passes.materialize import dense_group, tile_pixels
from spiree.targets import get_target

CPUS = ("cortex-a76", "cortex-a55")
ITERATIONS = 200


def arm64_variants(groups=(4,), target=None) -> list:
    """The kernel variants of arm64 builds: dense pointwise, sparse per G with i8/i16 indices,
    depthwise 3x3 stride 1 and 2 (the same constructors and tile choice as the passes)."""
    target = target or get_target("arm64")
    lanes = target.vector_f32_lanes
    out = [SpmmVariant(tile_pixels(target, dense_group(target)), dense_group(target), DENSE, lanes)]
    for g in groups:
        out += [SpmmVariant(tile_pixels(target, g), g, bits, lanes) for bits in (8, 16)]
    return out + [DwconvVariant(3, 1, lanes), DwconvVariant(3, 2, lanes)]


def compile_to_asm(variants, target) -> str:
    """The assembly clang makes of the variants' C, with the artifacts' kernel flags."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "kernels.c"
        src.write_text(render_sources(variants))
        out = Path(tmp) / "kernels.s"
        proc = subprocess.run([clang(), *COMMON_CFLAGS, *target.kernel_cflags, "-Wno-comment", "-S", str(src),
                               "-o", str(out)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"clang failed: {proc.stderr[:500]}")
        return out.read_text()


# --------------------------------------------------------------------------------------------
# Assembly: functions, innermost loops, FLOPs
# --------------------------------------------------------------------------------------------

_LABEL = re.compile(r"^([.\w$]+):")
_BRANCH = re.compile(r"^\s*(b(?:\.\w+)?|cbn?z|tbn?z)\s+(?:[^,]+,\s*)*([.\w$]+)\s*$")


@dataclass(frozen=True)
class Loop:
    function: str
    label: str
    lines: tuple[str, ...]  # instructions of one iteration, label to backward branch

    @property
    def instructions(self) -> int:
        return len(self.lines)

    @property
    def flops(self) -> int:
        return sum(instruction_flops(l) for l in self.lines)

    @property
    def branches_inside(self) -> int:
        return sum(1 for l in self.lines[:-1] if _BRANCH.match(l))

    def asm(self) -> str:
        return f"{self.label}:\n" + "".join(f"\t{l}\n" for l in self.lines)


def functions(asm: str) -> dict[str, list[str]]:
    """Lines of each function (from its label to `.size`/`.Lfunc_end`), comments stripped."""
    out: dict[str, list[str]] = {}
    names = set(re.findall(r"^\s*\.type\s+([\w$.]+),\s*@function", asm, re.M))
    current = None
    for raw in asm.splitlines():
        line = raw.split("//")[0].rstrip()
        m = _LABEL.match(line)
        if m and m.group(1) in names:
            current = m.group(1)
            out[current] = []
            continue
        if current is None:
            continue
        if line.startswith(".Lfunc_end"):
            current = None
            continue
        if line.strip():
            out[current].append(line)
    return out


def innermost_loops(name: str, lines: list[str]) -> list[Loop]:
    labels = {m.group(1): i for i, l in enumerate(lines) if (m := _LABEL.match(l))}
    spans = []
    for j, l in enumerate(lines):
        m = _BRANCH.match(l)
        if m and m.group(2) in labels and labels[m.group(2)] < j:
            spans.append((labels[m.group(2)], j))
    loops = []
    for i, j in spans:
        if any((i2, j2) != (i, j) and i <= i2 and j2 <= j for i2, j2 in spans):
            continue  # holds another loop
        body = [l.strip() for l in lines[i + 1:j + 1] if not _LABEL.match(l) and not l.strip().startswith(".")]
        loops.append(Loop(name, _LABEL.match(lines[i]).group(1), tuple(body)))
    return loops


def instruction_flops(line: str) -> int:
    """Floating-point operations of one AArch64 instruction (an FMA is 2 per lane)."""
    op, args = (line.split(None, 1) + [""])[:2]
    m = re.search(r"\bv\d+\.(\d+)[sdh]\b", args)
    if m:
        lanes = int(m.group(1))
    elif re.match(r"\s*[sdh]\d+\b", args):
        lanes = 1
    else:
        return 0  # no floating-point register operand
    if op in ("fmla", "fmls", "fmadd", "fmsub", "fnmadd", "fnmsub"):
        return 2 * lanes
    if op in ("fmul", "fadd", "fsub", "fdiv"):
        return lanes
    return 0


def hot_loop(name: str, lines: list[str]) -> Loop | None:
    """The innermost loop with the most FLOP; of several (a kernel's fast path and its
    careful copies for edges), the one with the fewest instructions: the steady state."""
    loops = innermost_loops(name, lines)
    return max(loops, key=lambda l: (l.flops, -l.instructions), default=None)


# --------------------------------------------------------------------------------------------
# llvm-mca
# --------------------------------------------------------------------------------------------

def llvm_mca() -> str:
    tool = shutil.which("llvm-mca") or next((t for v in range(20, 13, -1) if (t := shutil.which(f"llvm-mca-{v}"))), None)
    if not tool:
        raise RuntimeError("llvm-mca is missing: run scripts/setup.sh (installs llvm)")
    return tool


def run_mca(loop: Loop, cpu: str, *, iterations: int = ITERATIONS) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".s") as f:
        f.write(loop.asm())
        f.flush()
        proc = subprocess.run([llvm_mca(), "-mtriple=aarch64", f"-mcpu={cpu}", f"-iterations={iterations}", f.name],
                              capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"llvm-mca -mcpu={cpu} failed on {loop.function}: {proc.stderr.strip()[:400]}")
    return parse_mca(proc.stdout)


def scheduling_model(text: str) -> str:
    """The scheduling model llvm-mca used, from its first resource name (`A57UnitB` -> `A57`):
    LLVM 14 models every big Cortex-A7x/X core with the Cortex-A57 model."""
    m = re.search(r"^Resources:\s*\n\[[\d.]+\]\s+-\s+(\w+?)(?:Unit|Pipe)", text, re.M)
    return m.group(1) if m else "unknown"


_SUMMARY = {"Iterations": int, "Instructions": int, "Total Cycles": int, "Total uOps": int,
            "Dispatch Width": int, "uOps Per Cycle": float, "IPC": float, "Block RThroughput": float}


def parse_mca(text: str) -> dict:
    """llvm-mca's summary block as numbers, plus cycles per iteration."""
    out = {}
    for key, conv in _SUMMARY.items():
        m = re.search(rf"^{re.escape(key)}:\s+([\d.]+)\s*$", text, re.M)
        if not m:
            raise ValueError(f"llvm-mca output has no {key!r} line")
        out[key.lower().replace(" ", "_")] = conv(m.group(1))
    out["cycles_per_iteration"] = out["total_cycles"] / out["iterations"]
    out["model"] = scheduling_model(text)
    return out


def peak_loop(accumulators: int = 12) -> Loop:
    """Independent 4-lane FMAs only: what the core model can do at best (its peak FLOP/cycle)."""
    body = tuple(f"fmla v{i}.4s, v30.4s, v31.s[0]" for i in range(accumulators)) + ("subs x0, x0, #1", "b.ne .Lpeak")
    return Loop("peak", ".Lpeak", body)


def analyze(variants, target, cpus=CPUS, *, iterations: int = ITERATIONS) -> list[dict]:
    asm = compile_to_asm(variants, target)
    fns = functions(asm)
    rows = []
    for v in sorted(set(variants), key=lambda v: v.name):
        if v.name not in fns:
            raise RuntimeError(f"{v.name} is not in clang's assembly")
        loop = hot_loop(v.name, fns[v.name])
        if loop is None:
            raise RuntimeError(f"{v.name} has no loop in clang's assembly")
        row = {"kernel": v.name, "loop_label": loop.label, "instructions": loop.instructions,
               "flop_per_iteration": loop.flops, "branches_inside": loop.branches_inside, "cpus": {}}
        for cpu in cpus:
            row["cpus"][cpu] = _cpu_row(loop, run_mca(loop, cpu, iterations=iterations))
        row["asm"] = list(loop.lines)
        rows.append(row)
    peak = peak_loop()
    rows.append({"kernel": "peak (independent 4-lane FMAs)", "loop_label": peak.label,
                 "instructions": peak.instructions, "flop_per_iteration": peak.flops, "branches_inside": 0,
                 "cpus": {cpu: _cpu_row(peak, run_mca(peak, cpu, iterations=iterations)) for cpu in cpus},
                 "asm": list(peak.lines)})
    return rows


def _cpu_row(loop: Loop, r: dict) -> dict:
    return {"cycles_per_iteration": round(r["cycles_per_iteration"], 3), "block_rthroughput": r["block_rthroughput"],
            "ipc": r["ipc"], "model": r["model"], "flop_per_cycle": round(loop.flops / r["cycles_per_iteration"], 3)}


def table(rows, cpus) -> str:
    model = {c: rows[0]["cpus"][c]["model"] for c in cpus}
    head = "| kernel | loop instructions | FLOP / iteration | " + " | ".join(
        f"{c} ({model[c]} model) cycles / iter | FLOP / cycle" for c in cpus) + " |"
    lines = [head, "|" + "---|" * (3 + 2 * len(cpus))]
    for r in rows:
        cells = " | ".join(f"{r['cpus'][c]['cycles_per_iteration']:.2f} | {r['cpus'][c]['flop_per_cycle']:.2f}"
                           for c in cpus)
        lines.append(f"| {r['kernel']} | {r['instructions']} | {r['flop_per_iteration']} | {cells} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cpus", default=",".join(CPUS))
    ap.add_argument("--groups", default="4", help="G values of the sparse kernels (comma-separated)")
    ap.add_argument("--iterations", type=int, default=ITERATIONS)
    ap.add_argument("--json", help="write the rows (with each loop's assembly) as JSON here")
    args = ap.parse_args(argv)
    cpus = [c for c in args.cpus.split(",") if c]
    target = get_target("arm64")
    variants = arm64_variants(tuple(int(g) for g in args.groups.split(",")), target)
    rows = analyze(variants, target, cpus, iterations=args.iterations)
    print(f"llvm-mca, hot inner loop of each arm64 kernel ({target.kernel_cflags}), {args.iterations} iterations")
    print(table(rows, cpus))
    if args.json:
        Path(args.json).write_text(json.dumps({"cpus": cpus, "cflags": [*COMMON_CFLAGS, *target.kernel_cflags],
                                               "rows": rows}, indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
