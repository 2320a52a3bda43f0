"""What a build is asked to do: `BuildOptions` (one frozen object, built once by the CLI or the
API and passed down whole) and the `Kernels` choice."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from .compile import CompileOptions
from .prune import PruneOptions


class Kernels(StrEnum):
    """Which kernels run the model's layers (`spiree compile --kernels`, `spiree.compile(kernels=)`)."""

    # spiree's kernels, exploiting the weights' group sparsity (the default).
    SPARSE = "sparse"
    # spiree's kernels, every layer dense: the dense baseline of the same weights.
    DENSE = "dense"
    # No spiree passes: IREE alone (with compile.DENSE_FLAGS).
    IREE = "iree"

    @classmethod
    def parse(cls, spec: "str | Kernels", *, what: str = "kernels") -> "Kernels":
        """A `Kernels` from its name; the error lists the valid names."""
        try:
            return cls(spec)
        except ValueError:
            raise ValueError(f"{what}={spec!r} is not one of {', '.join(cls)}") from None


@dataclass(frozen=True)
class BuildOptions:
    """Everything `pipeline.build.build` needs besides the model and the target."""

    # Which kernels: a `Kernels` (its name is accepted and parsed).
    kernels: Kernels = Kernels.SPARSE
    # Stage `prune`: one-shot group-sparse pruning before anything else (None: keep the weights).
    prune: PruneOptions | None = None
    # Stage `compile`: extra iree-compile flags and the dense-build preprocessing flags.
    compile: CompileOptions = field(default_factory=CompileOptions)
    # Save the IR after each MLIR stage into this directory (`--emit-mlir DIR`; None: do not).
    emit_mlir: Path | None = None

    def __post_init__(self):
        object.__setattr__(self, "kernels", Kernels.parse(self.kernels))
