"""What the passes decided, one `LayerReport` row per layer, gathered in a `PassReport`.

`run_pipeline` returns the `PassReport`; a pass adds the row of a layer it matches the first time
any pass looks at that layer (`PassReport.layer(op, ...)`) and updates it after that: `detect`
writes the sparse/dense decision of a 1x1 convolution, `materialize` the kernel that runs it (or
"iree" when it cannot take the layer), on the same row. The manifest's "passes" list and
`spiree compile --report` are `PassReport.to_json()`.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Iterator

# The decisions a row can carry.
DECISIONS = ("sparse", "dense", "kernel", "iree")


@dataclass
class LayerReport:
    """One layer as the passes saw it. Fields no pass set stay None and are left out of the JSON."""

    # Position in the report: the order in which the passes met the layers (the `#` column of
    # `--report`).
    layer: int
    # What the layer is, from the IR: conv1x1, linear, conv3x3, conv3x3s2 (KxK or strided conv),
    # dwconv3x3 (depthwise), maxpool3x3, avgpool (global average pooling).
    op: str
    # The weight's shape: [O, I, KH, KW] (depthwise: [C, 1, KH, KW]), Linear [O, I].
    weight: list[int] | None = None
    # avgpool: the input's [N, C, H, W].
    shape: list[int] | None = None
    # Convolutions and pooling with a stride other than 1 (and the depthwise kernel's rows).
    stride: int | None = None
    # The weight's group pattern, as `detect` found it (mlir_passes/pattern.py).
    group: int | None = None
    k: int | None = None
    balanced: bool | None = None
    sparsity: float | None = None
    # "sparse" (spiree kernel, packed group-sparse weights), "dense" (spiree kernel, dense
    # weights), "kernel" (spiree kernel of a layer without weights to prune), "iree" (left to
    # IREE); "" until a pass decides.
    decision: str = ""
    # Why: the pattern and threshold, the cost estimates, or what a kernel cannot take.
    reason: str = ""
    # The spiree kernel that runs the layer (its name carries its parameters).
    kernel: str | None = None
    # The elementwise ops fused into that kernel ("residual add, relu", "silu", "none").
    epilogue: str | None = None

    def update(self, **values: Any) -> "LayerReport":
        """Set fields by name (a misspelled field is an error, not a new key)."""
        for name, value in values.items():
            if name not in _FIELDS:
                raise TypeError(f"LayerReport has no field {name!r}: fields are {', '.join(_FIELDS)}")
            setattr(self, name, value)
        return self

    def to_json(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in _FIELDS if getattr(self, f) is not None}

    @classmethod
    def from_json(cls, d: dict[str, Any], layer: int) -> "LayerReport":
        """From a manifest's "passes" row (`layer`: its position, for rows written without one);
        keys this version does not know are ignored."""
        return cls(**{"layer": layer, **{k: v for k, v in d.items() if k in _FIELDS}})


_FIELDS = tuple(f.name for f in fields(LayerReport))


@dataclass
class PassReport:
    """The rows of one pipeline run, in the order the passes met the layers."""

    layers: list[LayerReport] = field(default_factory=list)
    # The row of each op a pass reported, keyed by the op's first result, so a later pass finds
    # it: a result value hashes by identity, while an `Operation`'s Python hash follows its
    # attributes, which the passes change (`detect` annotates the ops `materialize` reads).
    _by_op: dict[Any, LayerReport] = field(default_factory=dict, init=False, repr=False, compare=False)

    def layer(self, op, *, op_name: str, **values: Any) -> LayerReport:
        """The row of IR operation `op`: the one an earlier pass added, else a new row with
        `op_name` and `values` (an existing row is returned as it is; update it)."""
        row = self._by_op.get(op.results[0])
        if row is None:
            row = LayerReport(len(self.layers), op_name).update(**values)
            self.layers.append(row)
            self._by_op[op.results[0]] = row
        return row

    def __iter__(self) -> Iterator[LayerReport]:
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, i: int) -> LayerReport:
        return self.layers[i]

    def decisions(self) -> list[str]:
        return [r.decision for r in self.layers]

    def to_json(self) -> list[dict[str, Any]]:
        return [r.to_json() for r in self.layers]

    @classmethod
    def from_json(cls, rows: list[dict[str, Any]]) -> "PassReport":
        """From a manifest's "passes" list (rows only: no IR to look ops up in)."""
        return cls([LayerReport.from_json(r, i) for i, r in enumerate(rows)])
