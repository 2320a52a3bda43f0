"""A small C-template expander for spiree's kernel families (the shape of XNNPACK's
`tools/xngen`).

A template (`templates/*.c.in`) is C with two additions:
- lines whose first non-blank character is `$` are Python control lines:
  `$for v in range(NV):`, `$if ACT == "silu":`, `$elif ...:`, `$else:`, closed by `$endfor` /
  `$endif`; `$name = expr` assigns a template variable;
- `${expr}` anywhere in a text line is replaced by the value of the Python expression.
Everything else is copied as it is. Parameters come in as keyword arguments of `render`.

    $for r in range(G):
    acc${r} = bias[${r}];
    $endfor

renders, with G=2, to `acc0 = bias[0];` and `acc1 = bias[1];` on their own lines (the control
line's indentation does not count; the text lines keep theirs).
"""
from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

_EXPR = re.compile(r"\$\{([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}")
_OPENERS = ("for ", "if ", "while ")
_MIDDLE = ("elif ", "else")
_CLOSERS = ("endfor", "endif", "endwhile")


class TemplateError(ValueError):
    pass


def _text_line(line: str) -> str:
    """Python statement appending one text line, with `${...}` substituted."""
    parts, pos = [], 0
    for m in _EXPR.finditer(line):
        if m.start() > pos:
            parts.append(repr(line[pos:m.start()]))
        parts.append(f"str({m.group(1)})")
        pos = m.end()
    if pos < len(line):
        parts.append(repr(line[pos:]))
    return "_out.append(" + (" + ".join(parts) if parts else "''") + ")"


@lru_cache(maxsize=None)
def _compile(template: str, name: str):
    code, depth = [], 0
    for lineno, line in enumerate(template.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("$") and not stripped.startswith("${"):
            stmt = stripped[1:].strip()
            if stmt in _CLOSERS:
                depth -= 1
            elif stmt.startswith(_MIDDLE):
                code.append("    " * (depth - 1) + stmt)
            elif stmt.startswith(_OPENERS):
                code.append("    " * depth + stmt)
                depth += 1
            else:
                code.append("    " * depth + stmt)
            if depth < 0:
                raise TemplateError(f"{name}:{lineno}: unbalanced '${stmt}'")
        else:
            code.append("    " * depth + _text_line(line))
    if depth != 0:
        raise TemplateError(f"{name}: {depth} unclosed $for/$if block(s)")
    return compile("\n".join(code) or "pass", f"<template {name}>", "exec")


def render(template: str, name: str = "template", **params) -> str:
    """Expand `template` with `params`; returns C text ending with a newline."""
    out: list[str] = []
    scope = {"_out": out, **params}
    exec(_compile(template, name), scope)  # noqa: S102 (templates are spiree's own files)
    return "\n".join(out) + "\n"


def template(name: str) -> str:
    """The text of `templates/NAME` shipped in this package."""
    return resources.files(__package__).joinpath("templates", name).read_text()


def render_file(name: str, **params) -> str:
    return render(template(name), name, **params)
