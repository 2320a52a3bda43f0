"""The one vocabulary of layer kinds (mlir_passes/kinds.py), as the pruner, `spiree inspect`,
the compiler's rule and the passes' reports use it."""
import pytest
from torch import nn

from spiree.mlir_passes import kinds, pattern
from spiree.pipeline.prune.sparsifier import is_depthwise, layer_kind


@pytest.mark.parametrize("family, kernel, stride, dilation, groups, kind", [
    ("conv", (1, 1), 1, 1, 1, "conv1x1"),
    ("conv", (1, 1), 2, 1, 1, "conv"),       # strided 1x1: the conv pass's
    ("conv", (3, 3), 1, 1, 1, "conv"),
    ("conv", (7, 7), 2, 1, 1, "conv"),
    ("conv", (3, 3), 3, 1, 1, "conv_other"),
    ("conv", (3, 3), 1, 2, 1, "conv_other"),
    ("conv", (3, 3), 1, 1, 4, "grouped"),
    ("dwconv", (3, 3), 2, 1, 32, "dwconv"),
    ("linear", (1, 1), 1, 1, 1, "linear"),
])
def test_layer_kind(family, kernel, stride, dilation, groups, kind):
    assert kinds.layer_kind(family, kernel, stride=stride, dilation=dilation, groups=groups) == kind
    assert (kind in pattern.SPARSE_KINDS) == (kind in ("conv1x1", "conv", "linear"))


def test_unknown_family_lists_the_families():
    with pytest.raises(ValueError, match="layer family 'pool' is not one of conv, dwconv, linear"):
        kinds.layer_kind("pool")


def test_op_names_match_the_pruner_and_the_passes():
    assert [kinds.op_name("conv", (3, 3), 2), kinds.op_name("conv", (1, 1)), kinds.op_name("dwconv", (5, 5), 2),
            kinds.op_name("linear")] == ["conv3x3s2", "conv1x1", "dwconv5x5", "linear"]
    assert [layer_kind(nn.Conv2d(8, 8, 3, 2)), layer_kind(nn.Conv2d(8, 8, 3, groups=8)), layer_kind(nn.Linear(4, 2))] \
        == ["conv3x3", "dwconv3x3", "linear"]
    assert kinds.conv_family(8, 8) == "dwconv" and kinds.conv_family(2, 8) == "conv" and kinds.conv_family(1, 1) == "conv"
    assert is_depthwise(nn.Conv2d(8, 8, 3, groups=8)) and not is_depthwise(nn.Conv2d(8, 8, 3, groups=2))
