"""The package layout holds together: every `spiree.*` module imports on its own, no two modules
import each other (directly or round a longer loop), every package folder is installed, and the
modules loaded all come from this checkout.

The folders at the root are installed as subpackages of `spiree` (pyproject's package-dir:
`pipeline/` is `spiree.pipeline`, ...). With an editable install made from another checkout,
`import spiree` from this one finds `spiree/` here but `spiree.pipeline` there, silently mixing two
versions of the code; `test_every_loaded_module_comes_from_this_checkout` catches that.
"""
import ast
import importlib
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
# Entry points that run on import, not library modules.
NOT_IMPORTED = {"spiree.__main__"}


def package_dir(package: str) -> Path:
    """The folder of `package` in this checkout, through pyproject's package-dir mapping."""
    mapping = SETUPTOOLS["package-dir"]
    parts = package.split(".")
    for n in range(len(parts), 0, -1):
        prefix = ".".join(parts[:n])
        if prefix in mapping:
            return ROOT.joinpath(mapping[prefix], *parts[n:])
    return ROOT.joinpath(*parts)


def modules() -> dict[str, Path]:
    """Every module of every installed package: import name -> source file."""
    found = {}
    for package in SETUPTOOLS["packages"]:
        for path in sorted(package_dir(package).glob("*.py")):
            name = package if path.stem == "__init__" else f"{package}.{path.stem}"
            found[name] = path
    return found


MODULES = modules()


def test_every_package_folder_is_installed():
    """A folder with an `__init__.py` under a mapped folder that pyproject's `packages` leaves out
    imports from a checkout but is missing from a wheel."""
    listed = set(SETUPTOOLS["packages"])
    missing = []
    for top in SETUPTOOLS["package-dir"]:
        for init in package_dir(top).rglob("__init__.py"):
            rel = init.parent.relative_to(package_dir(top))
            name = ".".join([top, *rel.parts]) if rel.parts else top
            if name not in listed:
                missing.append(name)
    assert not missing, f"add {sorted(missing)} to [tool.setuptools] packages in pyproject.toml"


def test_every_module_imports_on_its_own():
    """Each module in a fresh state (every `spiree` module dropped from sys.modules first), so one
    that only imports after another has been imported fails here. One interpreter for all of them:
    third-party packages (torch, iree) stay loaded, which keeps this fast."""
    names = sorted(n for n in MODULES if n not in NOT_IMPORTED)
    code = (
        "import importlib, json, sys, traceback\n"
        "failed = {}\n"
        "for name in sys.argv[1:]:\n"
        "    for m in [m for m in sys.modules if m == 'spiree' or m.startswith('spiree.')]:\n"
        "        del sys.modules[m]\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except BaseException:\n"
        "        failed[name] = traceback.format_exc(limit=-4)\n"
        "print(json.dumps(failed))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, *names], capture_output=True, text=True, cwd=ROOT,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    failed = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not failed, "modules that do not import on their own:\n" + "\n".join(
        f"--- {name}\n{tb}" for name, tb in failed.items())


def _imports(tree: ast.Module, *, lazy: bool = False):
    """The import statements that run when the module is imported: in its body, and inside `if`,
    `try`, `with` and class bodies there; never those under `if TYPE_CHECKING:` (they do not run).
    With `lazy`, also those inside functions (they run when the function is first called)."""
    todo = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If):
            test = node.test
            if not (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING"
                    or isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"):
                todo += node.body
            todo += node.orelse
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if lazy:
                todo += node.body
        elif isinstance(node, ast.stmt):
            todo += [c for c in ast.iter_child_nodes(node) if isinstance(c, (ast.stmt, ast.excepthandler))]
        elif isinstance(node, ast.excepthandler):
            todo += node.body


def import_graph(modules: dict[str, Path], *, lazy: bool = False) -> dict[str, set[str]]:
    """module -> the spiree modules its imports load (module-level ones; with `lazy`, also those
    inside functions). A package's `__init__` counts as the package; `from pkg import sub` as the
    submodule when `sub` is one."""
    graph = {}
    for name, path in modules.items():
        is_package = path.stem == "__init__"
        package = name if is_package else name.rpartition(".")[0]
        edges = set()
        for node in _imports(ast.parse(path.read_text(), str(path)), lazy=lazy):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                if node.level:
                    base_parts = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                    base = ".".join(base_parts + ([node.module] if node.module else []))
                else:
                    base = node.module or ""
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            for t in targets:
                while t and t not in modules:  # `import spiree.x.y` loads spiree.x.y; a name in a module: that module
                    t = t.rpartition(".")[0]
                if t and t != name:
                    edges.add(t)
        graph[name] = edges
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Import cycles, one per back edge of a depth-first search, each as the loop of modules."""
    cycles, state, stack = [], {}, []

    def visit(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return cycles


def test_no_import_cycles():
    cycles = find_cycles(import_graph(MODULES))
    assert not cycles, "import cycles (module-level imports):\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_no_import_cycles_hidden_in_functions():
    """An import moved into a function to dodge a cycle keeps the two modules tangled: each
    still needs the other. Such cycles fail here too."""
    cycles = find_cycles(import_graph(MODULES, lazy=True))
    assert not cycles, "import cycles closed by function-level imports:\n" + "\n".join(
        " -> ".join(c) for c in cycles)


def test_cycle_check_finds_a_cycle(tmp_path):
    """The check itself can fail: two modules importing each other, and a longer loop."""
    files = {
        "pkg/__init__.py": "",
        "pkg/a.py": "from .b import x\n",
        "pkg/b.py": "from . import c\nx = 1\n",
        "pkg/c.py": "import pkg.a\n",
        "pkg/d.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .e import y\n"
                    "def f():\n    from .e import y\n",
        "pkg/f.py": "try:\n    import pkg.g\nexcept ImportError:\n    pass\nclass K:\n    from . import d\n",
        "pkg/g.py": "",
        "pkg/e.py": "from .d import f\n",
    }
    mods = {}
    for rel, text in files.items():
        p = tmp_path / rel
        p.parent.mkdir(exist_ok=True)
        p.write_text(text)
        stem = Path(rel).stem
        mods["pkg" if stem == "__init__" else f"pkg.{stem}"] = p
    graph = import_graph(mods)
    assert graph["pkg.a"] == {"pkg.b"} and graph["pkg.b"] == {"pkg.c"} and graph["pkg.c"] == {"pkg.a"}
    assert graph["pkg.d"] == set()  # TYPE_CHECKING and function-level imports do not load anything
    assert graph["pkg.f"] == {"pkg.g", "pkg.d"}  # inside try and class bodies they do
    assert find_cycles(graph) == [["pkg.a", "pkg.b", "pkg.c", "pkg.a"]]
    lazy = import_graph(mods, lazy=True)
    assert lazy["pkg.d"] == {"pkg.e"}  # the function-level import; TYPE_CHECKING's still not
    assert find_cycles(lazy) == [["pkg.a", "pkg.b", "pkg.c", "pkg.a"], ["pkg.d", "pkg.e", "pkg.d"]]


def test_every_loaded_module_comes_from_this_checkout():
    """After importing every module, each `spiree.*` module in sys.modules has its file in this
    checkout: not in another checkout an editable install points at, nor in site-packages."""
    for name in sorted(MODULES):
        if name not in NOT_IMPORTED:
            importlib.import_module(name)
    elsewhere = {}
    for name, module in sorted(sys.modules.items()):
        if name != "spiree" and not name.startswith("spiree."):
            continue
        file = getattr(module, "__file__", None)
        if file is None or not Path(file).resolve().is_relative_to(ROOT):
            elsewhere[name] = file
    assert not elsewhere, (
        f"spiree modules loaded from outside this checkout ({ROOT}): {elsewhere}; the editable install "
        f"belongs to another checkout: run `pip install -e .` here (scripts/setup.sh) or use that "
        f"checkout's .venv")


@pytest.mark.parametrize("name", ["spiree.pipeline.runtime", "spiree.pipeline.wasm.runner"])
def test_graph_knows_the_runner_modules(name):
    """The static graph sees the real imports (a guard against a graph that is silently empty)."""
    graph = import_graph(MODULES)
    assert name in graph and graph[name], f"{name} has no spiree imports in the graph"
    assert "spiree.pipeline.device" in graph[name]


def layout_table() -> dict[str, set[str]]:
    """README "Layout": import name -> the spiree import names its folder may import."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or not cells[1].startswith("`"):
            continue
        names = re.findall(r"`([\w.]+)`", cells[1])
        allowed = set(re.findall(r"`(spiree[\w.]*)`", cells[3]))
        for name in names:
            rows[name] = allowed
    return rows


def _row(rows, module: str) -> str:
    return max((r for r in rows if module == r or module.startswith(r + ".")), key=len)


def test_imports_follow_the_readme_layout_table():
    """Every import (function-level ones included) stays within its folder or goes to a folder
    its README row allows, so the table a newcomer reads is the one the code keeps."""
    rows = layout_table()
    assert {"spiree", "spiree.pipeline", "spiree.pipeline.wasm", "spiree.targets", "spiree.models"} <= set(rows)
    unlisted = sorted(m for m in MODULES if not any(m == r or m.startswith(r + ".") for r in rows))
    assert not unlisted, f"modules without a row in README's Layout table: {unlisted}"
    bad = []
    for module, targets in sorted(import_graph(MODULES, lazy=True).items()):
        src = _row(rows, module)
        for target in sorted(targets):
            dst = _row(rows, target)
            if dst != src and not any(dst == a or dst.startswith(a + ".") for a in rows[src]):
                bad.append(f"{module} imports {target} ({src!r} may import {sorted(rows[src]) or 'nothing of spiree'})")
    assert not bad, "imports the README Layout table does not allow:\n" + "\n".join(bad)
