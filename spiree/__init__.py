"""spiree: compile group-sparse pruned CNNs for arm64 and wasm32 with IREE.

    import spiree
    art = spiree.compile("mobilenet_v1", target="arm64")
    art.save("mnv1.vmfb")
    model = spiree.load("mnv1.vmfb")
    logits = model(x)              # numpy in, numpy out
"""
from spiree.pipeline.api import CompiledModel, compile, load  # noqa: F401
from spiree.pipeline.artifact import Artifact  # noqa: F401
from spiree.pipeline.errors import SpireeError  # noqa: F401
from spiree.targets import TARGETS, get_target  # noqa: F401

__version__ = "0.1.0"
