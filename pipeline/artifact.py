"""A compiled model: the `.vmfb` bytes plus its manifest (`out.vmfb` -> `out.json`).

The manifest records the entry function, the input/output signature, the target, the versions
of the tools, the model spec (so `run --check` can rebuild the PyTorch reference), sparsity
settings and the per-layer report. `save` writes both files atomically (temp file + rename).
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..targets import Target, get_target
from .errors import ArtifactError
from .fsutil import atomic_write
from .runtime import TensorSpec

MANIFEST_FORMAT = "spiree-artifact/1"


def manifest_path(vmfb_path: "str | os.PathLike") -> Path:
    return Path(vmfb_path).with_suffix(".json")


@dataclass
class Artifact:
    vmfb: bytes
    manifest: dict[str, Any]

    @property
    def target(self) -> Target:
        return get_target(self.manifest["target"])

    @property
    def entry(self) -> str:
        return self.manifest.get("entry", "main")

    @property
    def inputs(self) -> list[TensorSpec]:
        return [TensorSpec.from_json(d) for d in self.manifest["inputs"]]

    @property
    def outputs(self) -> list[TensorSpec]:
        return [TensorSpec.from_json(d) for d in self.manifest["outputs"]]

    @property
    def pass_report(self):
        """The passes' per-layer decisions (a `mlir_passes.PassReport`, from the manifest)."""
        from ..mlir_passes.report import PassReport

        return PassReport.from_json(self.manifest.get("passes", []))

    def report(self) -> str:
        """The passes' per-layer sparse/dense decisions as a table (what `--report` prints)."""
        from .report import format_pass_report

        return format_pass_report(self.pass_report)

    def save(self, path: "str | os.PathLike") -> Path:
        """Write `path` (.vmfb) and its manifest beside it; nothing partial on failure."""
        path = Path(path)
        if path.suffix != ".vmfb":
            raise ValueError(f"artifact path must end in .vmfb, got {path}")
        path.parent.mkdir(parents=True, exist_ok=True)
        manifest = dict(self.manifest, vmfb_sha256=hashlib.sha256(self.vmfb).hexdigest())
        atomic_write(manifest_path(path), json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        try:
            atomic_write(path, self.vmfb)
        except BaseException:
            manifest_path(path).unlink(missing_ok=True)
            raise
        self.manifest = manifest
        return path

    @classmethod
    def load(cls, path: "str | os.PathLike") -> "Artifact":
        path = Path(path)
        if not path.is_file():
            raise ArtifactError(f"artifact {path} does not exist: compile one with `spiree compile`")
        mpath = manifest_path(path)
        if not mpath.is_file():
            raise ArtifactError(
                f"manifest {mpath} is missing next to {path.name}: keep the .json that "
                f"`spiree compile` wrote beside the .vmfb, or recompile"
            )
        try:
            manifest = json.loads(mpath.read_text())
            if manifest.get("format") != MANIFEST_FORMAT:
                raise ValueError(f"format {manifest.get('format')!r}")
        except ValueError as e:
            raise ArtifactError(f"manifest {mpath} is not a spiree manifest ({e}): recompile the model") from None
        vmfb = path.read_bytes()
        want = manifest.get("vmfb_sha256")
        if want and hashlib.sha256(vmfb).hexdigest() != want:
            raise ArtifactError(
                f"artifact {path} is corrupted (its checksum does not match {mpath.name}): "
                f"recompile it with `spiree compile`"
            )
        return cls(vmfb, manifest)

