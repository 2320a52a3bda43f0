"""The passes' typed report: one `LayerReport` row per layer, created by the first pass that
looks at the layer and updated by the next (`detect` decides, `materialize` names the kernel or
says why IREE keeps the layer), serialized as the manifest's "passes" rows."""
import re
from pathlib import Path

import pytest

from spiree.mlir_passes import LayerReport, PassOptions, PassReport, materialize, run_pipeline
from spiree.mlir_passes import ir as mir
from spiree.targets import get_target

CASES = {re.search(r"^func\.func @(\w+)", text, re.M).group(1): text
         for text in (Path(__file__).parent / "mlir" / "materialize.mlir").read_text().split("// -----")}
OPTIONS = PassOptions(target=get_target("arm64"))


def pipeline_report(case: str) -> PassReport:
    """The whole pipeline on a case, its hand-written `detect` annotation removed (detect decides)."""
    text = re.sub(r",\s*spiree\.sparse = \{[^}]*\}", "", CASES[case])
    assert "spiree." not in text.split("\nfunc.func", 1)[1]
    return run_pipeline(mir.parse_module(text.encode()), OPTIONS)


def test_a_layer_materialize_cannot_take_keeps_one_row_with_the_final_decision():
    report = pipeline_report("expect_no_rewrite_unknown_init")
    assert report.to_json() == [{
        "layer": 0, "op": "conv1x1", "weight": [8, 4, 1, 1], "group": 4, "k": 2, "balanced": True,
        "sparsity": 0.5, "decision": "iree", "reason": "accumulator init is not a bias broadcast or zeros"}]


def test_detect_and_materialize_fill_the_same_row():
    [row] = pipeline_report("fuse_bias_and_relu")
    assert (row.layer, row.op, row.decision, row.group, row.k) == (0, "conv1x1", "sparse", 4, 2)
    assert re.fullmatch(r"spiree_spmm_f32_\d+x4_v4_i8", row.kernel) and row.epilogue == "relu"
    assert row.reason == "G=4 K=2 sparsity 0.50"


def test_materialize_alone_reports_the_annotation_it_was_given():
    module = mir.parse_module(CASES["fuse_bias_and_relu"].encode())
    report = PassReport()
    materialize.run(module, OPTIONS, report)
    [row] = report
    assert (row.op, row.weight, row.decision, row.reason) == ("conv1x1", [8, 4, 1, 1], "sparse",
                                                               "spiree.sparse annotation")
    assert row.kernel.startswith("spiree_spmm_f32_") and row.group is None


def test_rows_reject_unknown_fields_and_round_trip_through_json():
    row = LayerReport(0, "dwconv3x3")
    with pytest.raises(TypeError, match="LayerReport has no field 'kernal': fields are layer, op, "):
        row.update(kernal="x")
    report = pipeline_report("fuse_bias_and_relu")
    again = PassReport.from_json(report.to_json())
    assert again.to_json() == report.to_json() and again[0] == report[0]
    # Rows of older manifests (no "layer" outside 1x1 rows; keys this version does not know).
    old = PassReport.from_json([{"op": "avgpool", "shape": [1, 8, 7, 7], "decision": "kernel", "reason": "k",
                                 "algorithm": "direct"}])
    assert old[0] == LayerReport(0, "avgpool", shape=[1, 8, 7, 7], decision="kernel", reason="k")
