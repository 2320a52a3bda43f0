import importlib.util
import logging
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import spiree
from spiree.models.registry import load_model, parse_model_source


def pytest_configure(config):
    logging.getLogger("spiree").setLevel(logging.WARNING)


def torch_reference(source: str, x: np.ndarray, **options) -> np.ndarray:
    lm = load_model(parse_model_source(source, options=options))
    with torch.no_grad():
        return lm.module(torch.from_numpy(x)).numpy()


@pytest.fixture(scope="session")
def tiny_artifacts(tmp_path_factory):
    """tiny_cnn compiled once per target, saved as .vmfb + .json."""
    out = tmp_path_factory.mktemp("tiny")
    arts = {}
    for t in ("host", "arm64", "wasm32"):
        a = spiree.compile("tiny_cnn", target=t)
        arts[t] = a.save(out / f"tiny_{t}.vmfb")
    return arts


def bench_script(name: str):
    """A script of bench/ (`name`.py) imported as a module, for tests of its functions."""
    path = Path(__file__).resolve().parents[1] / "bench" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def have_qemu() -> bool:
    return shutil.which("qemu-aarch64") is not None
