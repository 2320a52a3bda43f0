"""IR in, CHECK lines out: each `tests/mlir/<pass>.mlir` case (split at `// -----`) runs
through `spiree.mlir_passes.<pass>` and its output is matched by FileCheck (the `filecheck`
package). A case runs for `--target host` unless it says `// TARGET: <name>` (cases whose CHECK
lines depend on the target's executable format or vector registers name one); a case that
needs this machine's host target to have 16 f32 lanes (AVX-512) says `// REQUIRES:
host-lanes-16` and is skipped elsewhere."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

from spiree.targets import get_target

HERE = Path(__file__).parent / "mlir"
FILECHECK = str(Path(sys.executable).parent / "filecheck")


def cases():
    for path in sorted(HERE.glob("*.mlir")):
        for i, text in enumerate(path.read_text().split("// -----")):
            name = re.search(r"^func\.func @(\w+)", text, re.M).group(1)
            yield pytest.param(path.stem, text, id=f"{path.stem}:{name}")


@pytest.mark.parametrize("pass_name, text", list(cases()))
def test_pass_ir(pass_name, text, tmp_path):
    if "// REQUIRES: host-lanes-16" in text and get_target("host").vector_f32_lanes != 16:
        pytest.skip("needs a host target with 16 f32 lanes (AVX-512)")
    src = tmp_path / "in.mlir"
    src.write_text(text)
    target = re.search(r"^// TARGET: (\S+)", text, re.M)
    out = subprocess.run([sys.executable, "-m", f"spiree.mlir_passes.{pass_name}", str(src),
                          "--target", target.group(1) if target else "host"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    check = subprocess.run([FILECHECK, str(src)], input=out.stdout, capture_output=True, text=True)
    assert check.returncode == 0, f"FileCheck failed:\n{check.stderr}\n--- IR after {pass_name}:\n{out.stdout}"
