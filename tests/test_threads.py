"""Thread counts: `spiree.load(..., threads=N)`, `spiree run --threads N` on every target, the
same numbers at 1 and 2 threads, and one clear error for a bad count."""
import os
import time

import numpy as np
import pytest

import spiree
from spiree.pipeline.errors import RunError
from spiree.pipeline.device import Device, resolve_device, waiting_on_workers

from .conftest import have_qemu, torch_reference
from .test_cli import error_line, spiree as spiree_cli

ATOL = 1e-4  # max abs error on logits vs PyTorch (the bar)
SAME = 1e-5  # max abs difference between runs on 1 and on 2 threads


def _input(seed=0):
    return np.random.default_rng(seed).standard_normal((1, 3, 32, 32)).astype(np.float32)


def test_meaning_of_threads():
    # Android's Options().threads(n): 1 = the calling thread, N > 1 = local-task with N workers.
    assert resolve_device(threads=1) == Device("local-sync")
    assert resolve_device(threads=3) == Device("local-task", 3)
    assert resolve_device("local-task", threads=1) == Device("local-task", 1)
    assert resolve_device("local-task") == Device("local-task", None)
    assert resolve_device() == Device("local-sync")
    assert Device("local-task", 2).tool_flags() == ["--device=local-task", "--device_allocator=caching",
                                                    "--task_topology_group_count=2"]
    assert Device("local-sync").tool_flags() == ["--device=local-sync", "--device_allocator=caching"]


@pytest.mark.skipif(not hasattr(os, "sched_setscheduler"), reason="Linux scheduling policies")
def test_waiting_on_workers_switches_the_calling_thread_to_batch_and_back():
    if os.sched_getscheduler(0) != os.SCHED_OTHER:
        pytest.skip("the test process does not run under the default policy (SCHED_OTHER)")
    with waiting_on_workers(Device("local-task", 2)):
        assert os.sched_getscheduler(0) == os.SCHED_BATCH
    assert os.sched_getscheduler(0) == os.SCHED_OTHER
    with pytest.raises(KeyError):  # restored on the way out of an error too
        with waiting_on_workers(Device("local-task", 2)):
            raise KeyError("x")
    assert os.sched_getscheduler(0) == os.SCHED_OTHER
    with waiting_on_workers(Device("local-sync")):  # the calling thread does the work: unchanged
        assert os.sched_getscheduler(0) == os.SCHED_OTHER


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True])
def test_bad_thread_count_is_refused(tiny_artifacts, bad):
    with pytest.raises(ValueError, match=r"^threads must be a whole number >= 1 \(1: the calling thread, N: "
                                         r"IREE's local-task device with N worker threads\), got "):
        spiree.load(tiny_artifacts["host"], threads=bad)


def test_local_sync_cannot_have_more_threads(tiny_artifacts):
    with pytest.raises(RunError, match=r"^local-sync runs on the calling thread only, so it cannot use 2 threads"):
        spiree.load(tiny_artifacts["host"], device="local-sync", threads=2)


def _worker_threads() -> dict[int, str]:
    out = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/comm") as f:
                out[int(tid)] = f.read().strip()
        except OSError:
            pass
    return out


def test_threads_sets_the_local_task_worker_count(tiny_artifacts):
    before = set(_worker_threads())
    model = spiree.load(tiny_artifacts["host"], threads=3)  # 3: no other test creates this device
    assert (model.device, model.threads) == ("local-task", 3)
    model(_input())
    for _ in range(50):  # workers name themselves once they start
        new = [n for t, n in _worker_threads().items() if t not in before and n.startswith("iree-worker")]
        if len(new) >= 3:
            break
        time.sleep(0.02)
    assert sorted(new) == ["iree-worker-0", "iree-worker-1", "iree-worker-2"]


@pytest.mark.parametrize("target", ["host", "wasm32", pytest.param("arm64", marks=pytest.mark.arm64)])
def test_same_numbers_on_1_and_2_threads(tiny_artifacts, target):
    if target == "arm64" and not have_qemu():
        pytest.skip("qemu-aarch64 is not installed (scripts/setup.sh)")
    x = _input(3)
    ref = torch_reference("tiny_cnn", x)
    one = spiree.load(tiny_artifacts[target], threads=1)
    two = spiree.load(tiny_artifacts[target], threads=2)
    assert (one.device, one.threads, two.device, two.threads) == ("local-sync", 1, "local-task", 2)
    y1, y2 = one(x), two(x)
    for n, y in ((1, y1), (2, y2)):
        err = float(np.abs(y - ref).max())
        assert err <= ATOL, f"tiny_cnn on {target} with {n} thread(s): max abs error {err} > {ATOL}"
    assert float(np.abs(y1 - y2).max()) <= SAME, f"{target}: 1 and 2 threads differ"


def test_cli_run_threads(tiny_artifacts, tmp_path):
    np.save(tmp_path / "x.npy", _input(4))
    outs = []
    for n in ("1", "2"):
        p = spiree_cli("run", tiny_artifacts["host"], "--threads", n, "--input", tmp_path / "x.npy",
                       "--output", tmp_path / f"y{n}.npy", "--check")
        assert p.returncode == 0, p.stderr
        assert "check: PASSED" in p.stdout
        assert ("local-sync, 1 thread" if n == "1" else "local-task, 2 worker(s)") in p.stderr
        outs.append(np.load(tmp_path / f"y{n}.npy"))
    assert float(np.abs(outs[0] - outs[1]).max()) <= SAME


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5"])
def test_cli_bad_threads_one_error_line(tiny_artifacts, value):
    p = spiree_cli("run", tiny_artifacts["host"], "--threads", value)
    assert p.returncode == 1
    shown = repr(int(value)) if value.lstrip("-").isdigit() else repr(value)
    assert error_line(p) == ("spiree: error: --threads must be a whole number >= 1 (1: the calling thread, "
                             f"N: IREE's local-task device with N worker threads), got {shown}")


def test_cli_local_sync_with_threads_is_refused(tiny_artifacts):
    p = spiree_cli("run", tiny_artifacts["host"], "--device", "local-sync", "--threads", "2")
    assert p.returncode == 1
    assert error_line(p) == ("spiree: error: local-sync runs on the calling thread only, so it cannot use 2 "
                             "threads: use local-task (or leave the device out) with 2 threads")
