"""The data type between the MLIR stages: a module held as MLIR bytecode.

MobileNet-v1 is ~34 MB as text, so stages hand bytecode to each other and parse it into a
context only when they need to look inside.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..mlir_passes import ir as mir


@dataclass(frozen=True)
class MlirModule:
    bytecode: bytes
    # The stage that produced it ("export", "passes", ...); names the file in --emit-mlir.
    stage: str

    @classmethod
    def from_module(cls, module: "mir.Module", stage: str) -> "MlirModule":
        return cls(mir.to_bytecode(module), stage)

    def parse(self, context: "mir.Context | None" = None) -> "mir.Module":
        return mir.parse_module(self.bytecode, context)

    def to_text(self, *, large_elements_limit: int | None = 16) -> str:
        """IR text; constants larger than `large_elements_limit` print as `dense_resource`
        placeholders (None prints everything)."""
        module = self.parse()
        return module.operation.get_asm(large_elements_limit=large_elements_limit)

    def save(self, directory: Path, index: int) -> Path:
        """Write `NN-stage.mlirbc` (bytecode, complete) and `NN-stage.mlir` (text, elided
        constants) into `directory`."""
        directory.mkdir(parents=True, exist_ok=True)
        base = directory / f"{index:02d}-{self.stage}"
        base.with_suffix(".mlirbc").write_bytes(self.bytecode)
        base.with_suffix(".mlir").write_text(self.to_text())
        return base.with_suffix(".mlirbc")
