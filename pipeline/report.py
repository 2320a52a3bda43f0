"""The passes' per-layer decisions of a build as a table (`spiree compile --report`,
`Artifact.report()`)."""
from __future__ import annotations


def format_pass_report(rows: list[dict]) -> str:
    """One line per layer the passes looked at: op, weight shape, decision, reason, and the
    epilogue fused into the kernel (if any)."""
    lines = [f"{'#':>3}  {'op':<10} {'weight':<16} {'decision':<9} reason"]
    for i, r in enumerate(rows):
        weight = "x".join(map(str, r.get("weight", [])))
        epilogue = f" [+ {r['epilogue']}]" if r.get("epilogue", "none") != "none" else ""
        lines.append(f"{i:>3}  {r['op']:<10} {weight:<16} {r['decision']:<9} {r.get('reason', '')}{epilogue}")
    return "\n".join(lines)
