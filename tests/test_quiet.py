"""Quiet output (pipeline/quiet.py): spiree's own lines only; torch/IREE warnings and logged
tracebacks shown with --verbose and kept in the failure's repro directory; a failure is one
`spiree: error:` line. And API parity: what `spiree compile` does to a build, spiree.compile can."""
import inspect
import logging
import re
import warnings
from pathlib import Path

import pytest

import spiree
from spiree import cli
from spiree.pipeline.errors import CompileError

from .test_cli import error_line, spiree as spiree_cli


def _noisy(fail: Exception | None):
    def cmd(args):
        logging.getLogger("spiree").info("stage: spiree's own progress line")
        warnings.warn("`isinstance(treespec, LeafSpec)` is deprecated", FutureWarning)
        try:
            raise RuntimeError("deep inside torch")
        except RuntimeError:
            logging.getLogger("torch.export").warning("Ran into the following error", exc_info=True)
        logging.getLogger("iree").warning("iree-compile: warning: something")
        if fail is not None:
            raise fail
        print("result line")
        return 0
    return cmd


@pytest.fixture
def run(monkeypatch, capsys):
    def go(*argv, fail=None):
        monkeypatch.setattr(cli, "cmd_targets", _noisy(fail))
        capsys.readouterr()
        code = cli.main([*argv, "targets"])
        out = capsys.readouterr()
        return code, out.out, out.err
    return go


def test_success_prints_only_spiree_lines(run):
    code, out, err = run()
    assert code == 0 and out == "result line\n"
    assert err.splitlines() == ["[spiree] stage: spiree's own progress line"]


def test_verbose_shows_the_other_libraries(run):
    code, out, err = run("--verbose")
    assert code == 0
    lines = err.splitlines()
    assert lines[0] == "[spiree] stage: spiree's own progress line"
    assert re.match(r"\[warnings\] FutureWarning: `isinstance\(treespec, LeafSpec\)` is deprecated \(.*test_quiet\.py:\d+\)$",
                    lines[1])
    assert lines[2] == "[torch.export] WARNING: Ran into the following error"
    assert "Traceback (most recent call last):" in err and "RuntimeError: deep inside torch" in err
    assert lines[-1] == "[iree] WARNING: iree-compile: warning: something"


def test_failure_is_one_line_and_keeps_the_messages(run):
    code, out, err = run("-q", fail=ValueError("cannot read x.pt2: re-create it with torch.export.save"))
    assert code == 1 and out == ""
    (line,) = err.splitlines()
    m = re.fullmatch(r"spiree: error: cannot read x\.pt2: re-create it with torch\.export\.save "
                     r"\(torch/IREE messages kept in (/\S+/spiree-repro-\w+/messages\.txt)\)", line)
    assert m, line
    kept = Path(m.group(1)).read_text()
    assert "FutureWarning" in kept and "RuntimeError: deep inside torch" in kept and "iree-compile: warning" in kept


def test_failure_with_a_repro_dir_keeps_the_messages_there(run, tmp_path):
    code, _, err = run("-q", fail=CompileError(f"IREE failed (repro kept in {tmp_path})", repro_dir=tmp_path))
    assert code == 1
    assert err == f"spiree: error: IREE failed (repro kept in {tmp_path}) (torch/IREE messages kept in " \
                  f"{tmp_path / 'messages.txt'})\n"
    assert "deep inside torch" in (tmp_path / "messages.txt").read_text()


def test_no_messages_no_suffix(monkeypatch, capsys):
    def cmd(args):
        raise ValueError("bad input: do this instead")
    monkeypatch.setattr(cli, "cmd_targets", cmd)
    assert cli.main(["targets"]) == 1
    assert capsys.readouterr().err == "spiree: error: bad input: do this instead\n"


def test_handlers_are_restored(run):
    torch_log = logging.getLogger("torch.export")
    before = (list(torch_log.handlers), list(logging.root.handlers))
    run()
    assert (list(torch_log.handlers), list(logging.root.handlers)) == before


def test_truncated_pt2_is_one_line(tmp_path):
    import torch

    torch.export.save(torch.export.export(torch.nn.Conv2d(3, 4, 1).eval(), (torch.randn(1, 3, 4, 4),)),
                      tmp_path / "net.pt2")
    (tmp_path / "cut.pt2").write_bytes((tmp_path / "net.pt2").read_bytes()[:3000])
    p = spiree_cli("compile", tmp_path / "cut.pt2", "-o", tmp_path / "x.vmfb")
    assert p.returncode == 1
    line = error_line(p)
    assert p.stderr.splitlines() == [line]  # torch's logged traceback is not printed
    m = re.fullmatch(rf"spiree: error: cannot read {tmp_path}/cut\.pt2 as a torch\.export program \(BadZipFile: "
                     r"File is not a zip file\): re-create it with torch\.export\.save "
                     r"\(torch/IREE messages kept in (\S+)\)", line)
    assert m, line
    assert "Traceback (most recent call last)" in Path(m.group(1)).read_text()
    p = spiree_cli("-v", "compile", tmp_path / "cut.pt2", "-o", tmp_path / "x.vmfb")
    assert p.returncode == 1 and "[torch.export] WARNING: Ran into the following error" in p.stderr
    assert list(tmp_path.glob("x.*")) == []


# -- API parity ----------------------------------------------------------------------------------

# CLI option of `spiree compile` -> how spiree.compile / Artifact says it.
NOT_A_PARAMETER = {
    "help": "-", "output": "Artifact.save", "report": "Artifact.report",
    "width": "options", "resolution": "options", "num_classes": "options", "batch": "options",
    "unbalanced": "balanced",
}


def test_every_compile_option_has_an_api_name():
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices["compile"]
    params = inspect.signature(spiree.compile).parameters
    missing = []
    for action in sub._actions:
        if action.dest == "model":
            continue
        name = NOT_A_PARAMETER.get(action.dest, action.dest)
        if name in ("-",):
            continue
        if name == "Artifact.save":
            ok = callable(spiree.Artifact.save)
        elif name == "Artifact.report":
            ok = callable(spiree.Artifact.report)
        else:
            ok = name in params
        if not ok:
            missing.append(action.option_strings[0] if action.option_strings else action.dest)
    assert missing == []


def test_api_kernels_and_report_match_the_cli(tmp_path):
    art = spiree.compile("tiny_cnn", target="host", kernels="dense", sparsity=0.7)
    assert art.manifest["kernels"] == "dense"
    assert all(r["decision"] != "sparse" for r in art.manifest["passes"])
    p = spiree_cli("-q", "compile", "tiny_cnn", "--kernels", "dense", "--sparsity", "0.7", "--report",
                   "-o", tmp_path / "t.vmfb")
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines()[1:] == art.report().splitlines()
    assert art.report().splitlines()[0].split() == ["#", "op", "weight", "decision", "reason"]
    with pytest.raises(ValueError, match="kernels='fast' is not one of sparse, dense, iree"):
        spiree.compile("tiny_cnn", kernels="fast")


def test_api_compiles_an_exported_program():
    import numpy as np
    import torch

    from .test_prune_exported import export, resnet

    model, x = resnet()
    art = spiree.compile(export(model, x), sparsity=0.7)
    assert sum(r["decision"] == "sparse" for r in art.manifest["passes"]) == 6  # 4 1x1, the 3x3 conv, the head
    y = spiree.load(art)(x[0].numpy())
    from spiree.pipeline.prune import PruneOptions, prune

    with torch.no_grad():
        want = prune(model, PruneOptions(0.7)).model(*x).numpy()
    np.testing.assert_allclose(y, want, atol=1e-4)
