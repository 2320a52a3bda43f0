"""One options object per concept: the CLI and `spiree.compile` build one `BuildOptions` (with a
whole `PruneOptions`) and hand it to `build` unchanged; `Kernels` parses its names and lists them
when a name is wrong."""
import pytest

import spiree
from spiree.cli import build_parser, main
from spiree.pipeline.options import BuildOptions, Kernels
from spiree.pipeline.prune import PruneOptions


class Stop(Exception):
    pass


@pytest.fixture
def built(monkeypatch):
    """The BuildOptions `build` receives (the build itself is stopped)."""
    seen = []

    def fake_build(loaded, target, *, options):
        seen.append((getattr(target, "name", target), options))
        raise Stop

    monkeypatch.setattr("spiree.pipeline.build.build", fake_build)
    monkeypatch.setattr("spiree.pipeline.api.build", fake_build)
    return seen


def test_kernels_parse_lists_the_valid_names():
    assert [Kernels.parse(k) for k in ("sparse", "dense", "iree")] == [Kernels.SPARSE, Kernels.DENSE, Kernels.IREE]
    assert Kernels.parse(Kernels.IREE) is Kernels.IREE and f"{Kernels.DENSE}" == "dense"
    with pytest.raises(ValueError, match=r"^--kernels='fast' is not one of sparse, dense, iree$"):
        Kernels.parse("fast", what="--kernels")
    assert BuildOptions(kernels="iree") == BuildOptions(kernels=Kernels.IREE)
    with pytest.raises(ValueError, match=r"^kernels='Sparse' is not one of sparse, dense, iree$"):
        BuildOptions(kernels="Sparse")
    compile_cmd = next(a for a in build_parser()._actions if a.dest == "command").choices["compile"]
    assert next(a for a in compile_cmd._actions if a.dest == "kernels").choices == ["sparse", "dense", "iree"]


def test_cli_compile_passes_one_build_options_down(built, tmp_path):
    with pytest.raises(Stop):
        main(["-q", "compile", "tiny_cnn", "--kernels", "dense", "--sparsity", "0.7", "--group", "2", "--unbalanced",
              "--rearrange", "--emit-mlir", str(tmp_path), "-o", str(tmp_path / "x.vmfb")])
    assert built == [("host", BuildOptions(kernels=Kernels.DENSE, prune=PruneOptions(0.7, 2, False, True),
                                           emit_mlir=tmp_path))]


def test_cli_android_prunes_with_the_same_options(built, tmp_path):
    with pytest.raises(Stop):
        main(["-q", "android", "tiny_cnn", "--sparsity", "0.5", "--group", "8", "-o", str(tmp_path / "m")])
    assert built == [("arm64", BuildOptions(prune=PruneOptions(0.5, 8)))]


def test_api_compile_builds_the_same_options(built):
    with pytest.raises(Stop):
        spiree.compile("tiny_cnn", target="wasm32", kernels="sparse", sparsity=0.6, group=1, balanced=False)
    with pytest.raises(Stop):
        spiree.compile("tiny_cnn")
    assert built == [("wasm32", BuildOptions(prune=PruneOptions(0.6, 1, balanced=False))), ("host", BuildOptions())]
    with pytest.raises(ValueError, match="sparsity 1.5 is outside"):
        spiree.compile("tiny_cnn", sparsity=1.5)  # refused before the model is loaded
    assert len(built) == 2
