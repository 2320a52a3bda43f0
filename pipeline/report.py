"""The passes' per-layer decisions of a build as a table (`spiree compile --report`,
`Artifact.report()`)."""
from __future__ import annotations

from ..mlir_passes.report import PassReport


def format_pass_report(report: PassReport) -> str:
    """One line per layer the passes looked at: op, weight shape, decision, reason, and the
    epilogue fused into the kernel (if any)."""
    lines = [f"{'#':>3}  {'op':<10} {'weight':<16} {'decision':<9} reason"]
    for r in report:
        weight = "x".join(map(str, r.weight or []))
        epilogue = f" [+ {r.epilogue}]" if r.epilogue not in (None, "none") else ""
        lines.append(f"{r.layer:>3}  {r.op:<10} {weight:<16} {r.decision:<9} {r.reason}{epilogue}")
    return "\n".join(lines)
