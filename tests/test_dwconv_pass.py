"""The dwconv pass's report rows: a layer the kernel takes names the kernel and the fused
epilogue; a layer it cannot take stays on IREE with the reason (the IR side of both is in
tests/mlir/dwconv.mlir)."""
import re
from pathlib import Path

from spiree.mlir_passes import PassOptions, PassReport, dwconv
from spiree.mlir_passes import ir as mir
from spiree.targets import get_target

CASES = {re.search(r"^func\.func @(\w+)", text, re.M).group(1): text
         for text in (Path(__file__).parent / "mlir" / "dwconv.mlir").read_text().split("// -----")}


def report(case: str) -> list[dict]:
    module = mir.parse_module(CASES[case].encode())
    report = PassReport()
    dwconv.run(module, PassOptions(target=get_target("host")), report)
    return report.to_json()


def test_kernel_rows_name_the_variant_and_epilogue():
    lanes = get_target("host").vector_f32_lanes
    assert report("fold_pad_bias_relu") == [
        {"layer": 0, "op": "dwconv3x3", "weight": [2, 1, 3, 3], "stride": 1, "decision": "kernel",
         "reason": f"spiree_dwconv_k3s1_v{lanes}_minmax", "kernel": f"spiree_dwconv_k3s1_v{lanes}_minmax",
         "epilogue": "relu"}]
    [row] = report("asymmetric_pad_5x5_stride2_silu")
    assert (row["op"], row["stride"], row["kernel"], row["epilogue"]) == (
        "dwconv5x5", 2, f"spiree_dwconv_k5s2_v{lanes}_silu", "silu")
    [row] = report("unpadded_7x7_relu6")
    assert (row["kernel"], row["epilogue"]) == (f"spiree_dwconv_k7s1_v{lanes}_minmax", "relu6")


def test_layers_the_kernel_cannot_take_stay_on_iree_with_the_reason():
    rows = report("expect_no_rewrite")
    assert [r["layer"] for r in rows] == list(range(6))  # one row per layer, in IR order
    assert [(r["op"], r["decision"], r["reason"]) for r in rows] == [
        ("dwconv3x3", "iree", "dilated (2x2)"),
        ("dwconv3x3", "iree", "strides 1x2: the kernel takes equal strides of 1 or 2"),
        ("dwconv3x3", "iree", "strides 3x3: the kernel takes equal strides of 1 or 2"),
        ("dwconv4x4", "iree", "4x4 window: the kernel takes 3x3, 5x5, 7x7"),
        ("dwconv3x3", "iree", "weight is not a constant"),
        ("dwconv3x3", "iree", "accumulator init is not a bias broadcast or zeros"),
    ]
