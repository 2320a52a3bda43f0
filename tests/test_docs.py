"""Docs that match the code: every `docs/...` path named anywhere in the repository exists, and
every `spiree ...` command named in the README, the docs, the source and the `--help` texts is a
real command with real options."""
import importlib
import re
import subprocess
from pathlib import Path

import pytest

from spiree.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
THIS = Path(__file__).resolve()

DOCS_PATH = re.compile(r"(?<![\w/.-])docs/[\w.-]+(?:/[\w.-]+)*")
# `spiree CMD ...`, also as `.venv/bin/spiree CMD`; not `spiree.load`, `x/spiree`, `:spiree`.
COMMAND = re.compile(r"(?:(?<![\w/.:'\"<-])|(?<=bin/))spiree[ \t]+(?=[a-z-])")
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
SPAN = re.compile(r"`([^`\n]+(?:\n[^`\n]+)?)`")
# `spiree.pipeline.wasm.twin.export_twin`: a module of a spiree folder and names inside it;
# inside `backticks` also without the `spiree.` (`pipeline.bench.bench`).
PYTHON_NAME = re.compile(r"(?<![\w/.])spiree\.(?:pipeline|mlir_passes|models|targets)(?:\.\w+)+")
SHORT_PYTHON_NAME = re.compile(r"(?<![\w/.])(?:pipeline|mlir_passes|models|targets)(?:\.\w+)+")


def python_names(text: str) -> set[str]:
    """The spiree Python names `text` mentions, each with its `spiree.` prefix."""
    names = set(PYTHON_NAME.findall(text))
    for span in SPAN.findall(text):
        names.update(f"spiree.{n}" for n in SHORT_PYTHON_NAME.findall(span))
    return names


def tracked_files(*suffixes: str) -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
        files = [ROOT / f for f in out.splitlines()]
    except (OSError, subprocess.CalledProcessError):  # not a git checkout
        files = [p for p in ROOT.rglob("*") if ".venv" not in p.parts and ".git" not in p.parts]
    return sorted(p for p in files if p.suffix in suffixes and p.resolve() != THIS and p.is_file())


def help_texts() -> dict[str, str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    texts = {"spiree --help": parser.format_help()}
    for name, p in sub.choices.items():
        texts[f"spiree {name} --help"] = p.format_help()
    return texts


def code_snippets(text: str, *, markdown: bool) -> list[str]:
    """What a reader would type: fenced code blocks' lines (Markdown) and `backtick` spans."""
    snippets = []
    if markdown:
        for block in FENCE.findall(text):
            snippets.extend(block.splitlines())
        text = FENCE.sub("", text)
    snippets.extend(" ".join(s.split()) for s in SPAN.findall(text))
    return snippets


def command_problems(snippet: str) -> list[str]:
    """Each `spiree CMD --opt ...` in the snippet: CMD must be a subcommand and each --opt one
    of its options (placeholders such as MODEL, [--x X] and a|b are fine)."""
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    global_opts = set(parser._option_string_actions)
    problems = []
    for m in COMMAND.finditer(snippet):
        tokens = [t for t in re.split(r"[\s|]+", snippet[m.end():]) if t]
        while tokens and tokens[0].startswith("-"):  # spiree -q compile ..., spiree --verbose
            opt = tokens.pop(0).strip("`'\",.;:)[]")
            if opt not in global_opts:
                problems.append(f"`spiree` has no option {opt}")
        if not tokens:
            continue
        cmd = tokens[0].strip("`'\",.;:)")
        if cmd not in sub.choices:
            problems.append(f"`spiree {cmd}` is not a command (commands: {', '.join(sub.choices)})")
            continue
        opts = set(sub.choices[cmd]._option_string_actions) | global_opts
        for tok in tokens[1:]:
            if tok in ("spiree", "&&", ";", "#", "then") or tok.endswith("/spiree"):
                break
            tok = tok.strip("[](),`'\";.")
            tok = tok.split("=", 1)[0]
            if tok.startswith("-") and not re.match(r"-[\d.]", tok) and tok != "-" and tok not in opts:
                problems.append(f"`spiree {cmd}` has no option {tok}")
    return problems


def sources() -> dict[str, tuple[str, bool]]:
    """name -> (text, is markdown): tracked Markdown and Python files, and the --help texts."""
    out = {str(p.relative_to(ROOT)): (p.read_text(errors="replace"), p.suffix == ".md")
           for p in tracked_files(".md", ".py", ".sh", ".c", ".java", ".in", ".toml")}
    out.update({name: (text, False) for name, text in help_texts().items()})
    return out


def test_every_docs_path_exists():
    missing = []
    for name, (text, _) in sources().items():
        for path in DOCS_PATH.findall(text):
            path = path.rstrip(".")
            if not (ROOT / path).exists():
                missing.append(f"{name}: {path}")
    assert missing == []


def python_name_problem(dotted: str) -> str | None:
    """Why `dotted` (a spiree module, then attributes) does not exist, or None. Parts in
    capitals are placeholders (`spiree.mlir_passes.NAME`)."""
    parts = dotted.split(".")
    if any(p.isupper() for p in parts):
        return None
    for n in range(len(parts), 1, -1):
        try:
            obj = importlib.import_module(".".join(parts[:n]))
        except ModuleNotFoundError:
            continue
        for attr in parts[n:]:
            if not hasattr(obj, attr):
                return f"{'.'.join(parts[:n])} has no {'.'.join(parts[n:])}"
            obj = getattr(obj, attr)
        return None
    return "no such module"


def test_every_python_name_named_exists():
    """Module paths in the docs and the source (`spiree.pipeline.wasm.binding.stats()`) follow
    the code when it moves."""
    problems = []
    for name, (text, _) in sources().items():
        for dotted in sorted(python_names(text)):
            why = python_name_problem(dotted)
            if why:
                problems.append(f"{name}: {dotted}: {why}")
    assert problems == []


def test_every_spiree_command_named_exists():
    problems = []
    for name, (text, markdown) in sources().items():
        for snippet in code_snippets(text, markdown=markdown):
            problems.extend(f"{name}: {p}" for p in command_problems(snippet))
    assert problems == []


def test_the_docs_check_finds_what_is_wrong():
    text = ("Run `spiree inspect --lisst` or `spiree frobnicate x`, not `spiree.load`; `spiree --verbose`, "
            "`spiree --verbos compile x -o y.vmfb`; "
            "`.venv/bin/spiree compile m --sparsity 0.7 --gruop 4 -o x.vmfb`\n"
            "```sh\nspiree run out.vmfb --check [--atol 1e-4] --device local-sync|local-task\n```\n")
    found = [p for s in code_snippets(text, markdown=True) for p in command_problems(s)]
    assert sorted(found) == sorted([
        "`spiree inspect` has no option --lisst",
        "`spiree frobnicate` is not a command (commands: " + ", ".join(
            next(a for a in build_parser()._actions if a.dest == "command").choices) + ")",
        "`spiree compile` has no option --gruop",
        "`spiree` has no option --verbos",
    ])
    assert DOCS_PATH.findall("see docs/nope.md. and [x](docs/sparsity-pattern.md)") == [
        "docs/nope.md.", "docs/sparsity-pattern.md"]
    assert python_names("`spiree.pipeline.wasm_runner.stats()`, spiree.load, `x.spiree.models.y`, "
                        "`pipeline.bench.to_json`, models.items()") == {
        "spiree.pipeline.wasm_runner.stats", "spiree.pipeline.bench.to_json"}
    assert python_name_problem("spiree.pipeline.wasm_runner.stats") == "spiree.pipeline has no wasm_runner.stats"
    assert python_name_problem("spiree.pipeline.wasm.binding.nope") == "spiree.pipeline.wasm.binding has no nope"
    assert python_name_problem("spiree.pipeline.wasm.binding.stats") is None


@pytest.mark.parametrize("name", sorted(help_texts()))
def test_help_texts_name_real_commands(name):
    text = help_texts()[name]
    assert [p for s in code_snippets(text, markdown=False) for p in command_problems(s)] == []
