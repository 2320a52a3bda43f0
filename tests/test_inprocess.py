"""The in-process runner's reused input buffers: every call sees its own input (a second call
with other numbers, the caller's array changed in place, a non-contiguous array, threads calling
at once), against PyTorch; tolerance 1e-4 absolute, as in test_pipeline."""
import threading

import numpy as np
import pytest

import spiree

from .conftest import torch_reference

ATOL = 1e-4


def _input(seed):
    return np.random.default_rng(seed).standard_normal((1, 3, 32, 32)).astype(np.float32)


@pytest.mark.parametrize("device", ["local-sync", "local-task"])
def test_each_call_sees_its_input(tiny_artifacts, device):
    model = spiree.load(tiny_artifacts["host"], device=device)
    x0, x1 = _input(0), _input(1)
    y0 = model(x0)
    y1 = model(x1)
    np.testing.assert_allclose(y0, torch_reference("tiny_cnn", x0), atol=ATOL)
    np.testing.assert_allclose(y1, torch_reference("tiny_cnn", x1), atol=ATOL)
    assert np.abs(y0 - y1).max() > 1e-3  # two different answers, not the first one again
    x1[...] = x0  # the caller's array changed in place: the next call reads it again
    np.testing.assert_allclose(model(x1), y0, atol=ATOL)
    xt = np.ascontiguousarray(np.swapaxes(_input(2), 2, 3)).swapaxes(2, 3)  # not C-contiguous
    np.testing.assert_allclose(model(xt), torch_reference("tiny_cnn", np.ascontiguousarray(xt)), atol=ATOL)


def test_threads_calling_at_once(tiny_artifacts):
    model = spiree.load(tiny_artifacts["host"])
    inputs = [_input(s) for s in range(4)]
    refs = [torch_reference("tiny_cnn", x) for x in inputs]
    errors = []

    def work(i):
        for _ in range(20):
            errors.append(float(np.abs(model(inputs[i]) - refs[i]).max()))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(errors) == 80 and max(errors) <= ATOL
