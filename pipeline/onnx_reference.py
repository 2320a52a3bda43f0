"""ONNX Runtime as the reference engine of `spiree bench`: the same PyTorch model (same weights,
dense) exported to ONNX and run by ONNX Runtime's CPU execution provider on the same number of
threads, in this process.

ONNX Runtime is optional (`pip install -e .[bench]`); `available()` says whether it is there.
"""
from __future__ import annotations

import logging
import tempfile
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

log = logging.getLogger(__name__)


def available() -> str | None:
    """ONNX Runtime's version, or None when it is not installed."""
    try:
        import onnxruntime
    except ImportError:
        return None
    return onnxruntime.__version__


class OnnxRuntimeModel:
    """`module` exported to ONNX (the torch.export graph of `example_inputs`) in an ONNX Runtime
    session with `threads` intra-op threads (sequential execution, one inter-op thread, as a
    phone app would run it). Call it with numpy arrays; it returns a list of numpy arrays."""

    def __init__(self, module: torch.nn.Module, example_inputs: Sequence[torch.Tensor], *, threads: int = 1):
        import onnxruntime as ort

        self.threads = threads
        with tempfile.TemporaryDirectory(prefix="spiree-onnx-") as tmp:
            path = Path(tmp) / "model.onnx"
            _export(module, tuple(example_inputs), path)
            so = ort.SessionOptions()
            so.intra_op_num_threads = threads
            so.inter_op_num_threads = 1
            so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            self._session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        self._names = [i.name for i in self._session.get_inputs()]

    def __call__(self, *arrays: np.ndarray) -> list[np.ndarray]:
        return self._session.run(None, dict(zip(self._names, arrays)))


def _export(module: torch.nn.Module, inputs: tuple[torch.Tensor, ...], path: Path) -> None:
    """TorchScript-based export first (fast, quiet); modules that only torch.export can trace
    (a `.pt2` program's module) through the dynamo exporter."""
    names = [f"input{i}" for i in range(len(inputs))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(module, inputs, str(path), input_names=names, dynamo=False)
            return
        except Exception as e:  # noqa: BLE001 -- retried with the other exporter below
            log.debug("TorchScript ONNX export failed (%s); using the dynamo exporter", e)
        torch.onnx.export(module, inputs, str(path), input_names=names, dynamo=True)
