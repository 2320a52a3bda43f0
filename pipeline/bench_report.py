"""How `spiree bench` shows its result: the text table (builds with times, ratios and the time
split by kind of layer; the per-layer sparse/dense decisions) and the PNG plot."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .bench_types import BenchResult


def _kinds(res: "BenchResult") -> list[str]:
    """Kinds of layer in any build's split, the biggest (summed over builds) first, IREE's last."""
    total: dict[str, float] = {}
    for r in res.results:
        for k, v in r.split_ms.items():
            total[k] = total.get(k, 0.0) + v
    from .benchmark import IREE_KIND

    kinds = sorted((k for k in total if k != IREE_KIND), key=lambda k: -total[k])
    return kinds + ([IREE_KIND] if IREE_KIND in total else [])


def _table(rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()
            for r in rows]


def format_result(res: "BenchResult") -> str:
    j = res.to_json()
    o = res.options
    lines = [f"spiree bench: {res.model} on {res.target.name}, {o.threads} thread(s) ({res.device}), "
             f"ms per inference, medians of {o.repeats} alternating round(s) after {o.warmup} warm-up"]
    lines += [f"note: {n}" for n in res.notes]
    wasm = res.target.runner == "wasm"
    kinds = _kinds(res) if o.profile else []
    head = ["build", "kernels", "sparsity", "median ms", "min ms", "vs dense", "vs ORT"]
    if wasm:
        head += ["in wasm", "copies"]
    head += [f"{k} ms" for k in kinds] + ["MB"]
    rows = [head]
    for row, r in zip(j["builds"], res.results):
        cells = [row["build"], row["kernels"], f"{row['sparsity']:g}", f"{row['median_ms']:.2f}",
                 f"{row['min_ms']:.2f}", _x(row["time_vs_dense"]), _x(row["time_vs_onnxruntime"])]
        if wasm:
            cells += [f"{row['in_wasm_ms']:.2f}", f"{row['copy_ms']:.2f}"]
        cells += [f"{r.split_ms[k]:.2f}" if k in r.split_ms else "-" for k in kinds]
        cells.append(f"{row['vmfb_bytes'] / 1e6:.1f}")
        rows.append(cells)
    ort = j["onnxruntime"]
    if ort is not None:
        cells = [f"onnxruntime {ort['version']}", "dense", "0", f"{ort['median_ms']:.2f}", f"{ort['min_ms']:.2f}",
                 _x(_div(ort["median_ms"], res.result("dense"))), "1.00x"]
        cells += ["-"] * (len(head) - len(cells))
        rows.append(cells)
    lines += _table(rows, right=set(range(2, len(head))))
    lines.append("vs dense / vs ORT: time ratios (below 1.00x is faster than spiree dense / ONNX Runtime)"
                 + (f"; per-kind columns: time per inference in each kind of dispatch (one profile run; "
                    f"'iree' = IREE's own dispatches)" if kinds else ""))
    same = [f"{r['build']} = {r['same_binary_as']}" for r in j["builds"] if r["same_binary_as"]]
    if same:
        lines.append("byte-identical builds, timed once: " + ", ".join(same))
    if res.instructions is not None:
        if "unavailable" in res.instructions:
            lines.append(f"instruction counts: unavailable: {res.instructions['unavailable']}")
        else:
            lines.append("instructions per inference: " + ", ".join(
                f"{name} {_count(c)}" for name, c in res.instructions.items()))
    lines += format_decisions(res)
    return "\n".join(lines)


def format_decisions(res: "BenchResult") -> list[str]:
    """Per layer with a sparse/dense decision, what each spiree build decided."""
    builds = [r.build for r in res.results if r.build.kernels == "sparse" and not r.build.same_binary_as]
    if not builds:
        return []
    rows_by_build = [[d for d in b.decisions if d.get("decision") in ("sparse", "dense")] for b in builds]
    if not any(rows_by_build):
        return []
    n = max(len(rs) for rs in rows_by_build)
    counts = ", ".join(f"{b.name}: {sum(d['decision'] == 'sparse' for d in rs)} of {len(rs)} sparse"
                       for b, rs in zip(builds, rows_by_build))
    out = [f"per-layer decisions ({counts}):"]
    rows = [["layer", "op", "weight"] + [b.name for b in builds]]
    for i in range(n):
        first = next(rs[i] for rs in rows_by_build if i < len(rs))
        cells = [str(first.get("layer", i)), first["op"], "x".join(map(str, first.get("weight", [])))]
        for rs in rows_by_build:
            cells.append(_decision(rs[i]) if i < len(rs) else "-")
        rows.append(cells)
    out += ["  " + l for l in _table(rows, right={0})]
    return out


def _decision(d: dict) -> str:
    return f"{d['decision']} ({d['reason']})" if d.get("reason") else d["decision"]


def _x(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}x"


def _div(a: float, dense) -> float | None:
    return None if dense is None else round(a / dense.median_ms, 3)


def _count(c) -> str:
    if isinstance(c, dict):
        total = c.get("per_inference", {}).get("total", c.get("total"))
        return f"{total / 1e6:.1f}M" if isinstance(total, (int, float)) else str(c)
    return str(c)


def plot(res: "BenchResult", path: Path) -> Path:
    """Horizontal bars per build: the time per inference split by kind of layer (stacked, from
    the profile), the end-to-end median as a black tick, ONNX Runtime as a dashed line."""
    import logging

    import matplotlib

    logging.getLogger("matplotlib").setLevel(logging.WARNING)
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = _kinds(res)
    results = res.results
    fig, ax = plt.subplots(figsize=(10, 1.4 + 0.5 * len(results)))
    y = list(range(len(results)))[::-1]
    left = [0.0] * len(results)
    for k in kinds:
        widths = [r.split_ms.get(k, 0.0) for r in results]
        ax.barh(y, widths, left=left, label=k, height=0.6)
        left = [a + b for a, b in zip(left, widths)]
    ax.scatter([r.median_ms for r in results], y, marker="|", s=400, color="black", label="end to end (median)",
               zorder=3)
    if res.onnxruntime is not None:
        ax.axvline(res.onnxruntime.median_ms, color="grey", ls="--",
                   label=f"ONNX Runtime ({res.onnxruntime.threads} thread(s))")
    ax.set_yticks(y)
    ax.set_yticklabels([r.build.name for r in results])
    ax.set_xlabel("ms per inference")
    ax.set_title(f"{res.model} on {res.target.name}, {res.options.threads} thread(s)")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
