import logging
import shutil

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


def have_qemu() -> bool:
    return shutil.which("qemu-aarch64") is not None
