"""IR in, CHECK lines out: each `tests/mlir/<pass>.mlir` case (split at `// -----`) runs
through `spiree.mlir_passes.<pass>` and its output is matched by FileCheck (the `filecheck`
package). A case runs for `--target host` unless it says `// TARGET: <name>` (cases whose CHECK
lines depend on the target's executable format or vector registers name one)."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent / "mlir"
FILECHECK = str(Path(sys.executable).parent / "filecheck")


def cases():
    for path in sorted(HERE.glob("*.mlir")):
        for i, text in enumerate(path.read_text().split("// -----")):
            name = re.search(r"^func\.func @(\w+)", text, re.M).group(1)
            yield pytest.param(path.stem, text, id=f"{path.stem}:{name}")


@pytest.mark.parametrize("pass_name, text", list(cases()))
def test_pass_ir(pass_name, text, tmp_path):
    src = tmp_path / "in.mlir"
    src.write_text(text)
    target = re.search(r"^// TARGET: (\S+)", text, re.M)
    out = subprocess.run([sys.executable, "-m", f"spiree.mlir_passes.{pass_name}", str(src),
                          "--target", target.group(1) if target else "host"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    check = subprocess.run([FILECHECK, str(src)], input=out.stdout, capture_output=True, text=True)
    assert check.returncode == 0, f"FileCheck failed:\n{check.stderr}\n--- IR after {pass_name}:\n{out.stdout}"
