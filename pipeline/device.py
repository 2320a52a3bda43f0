"""The IREE CPU device an artifact runs on, and its threads.

IREE's CPU device "local-sync" (the default: the calling thread, like the browser's web runtime
and a phone app's simplest setup) or "local-task" (IREE's multi-threaded task executor) with its
number of worker threads. `resolve_device(device, threads)` gives the meaning of `threads` shared
with the Android API's `Options().threads(n)`: 1 = the calling thread (local-sync), N > 1 =
local-task with N workers; without `threads`, local-task has IREE's default (one worker per core).
`hal_device` creates the in-process `iree.runtime` device once per process.

Both the in-process devices and IREE's tools (`tool_flags`) use IREE's caching allocator
(`ALLOCATOR`): IREE's heap allocator zero-fills every buffer it allocates (`iree_allocator_malloc`
is calloc), and a call allocates its transient and output buffers afresh, so without the cache
each inference memsets megabytes it is about to overwrite (~3% of MobileNetV2's time under
`perf`; in-process, alternating: 7.63 -> 7.52 ms dense, one thread).
"""
from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from .errors import RunError

DEVICES = ("local-sync", "local-task")
DEFAULT_DEVICE = "local-sync"
ALLOCATOR = "caching"  # IREE's allocator spec: freed buffers are kept for the next call


def check_device(device: str | None) -> str:
    """The IREE device name to run on; one clear error for anything else."""
    if device is None:
        return DEFAULT_DEVICE
    if device not in DEVICES:
        raise RunError(f"unknown device {device!r}: choose local-sync (one thread) or local-task (a worker per core)")
    return device


@dataclass(frozen=True)
class Device:
    """An IREE CPU device and its threads: "local-sync" runs every dispatch on the calling
    thread; "local-task" runs workgroups on `workers` worker threads (None: IREE's default, one
    per core of the machine's performance cluster)."""
    name: str = DEFAULT_DEVICE
    workers: int | None = None

    def tool_flags(self) -> list[str]:
        """The flags that select this device in IREE's tools (iree-run-module, ...)."""
        flags = [f"--device={self.name}", f"--device_allocator={ALLOCATOR}"]
        if self.name == "local-task":
            flags.append(f"--task_topology_group_count={self.workers or 0}")
        return flags

    def __str__(self) -> str:
        if self.name == "local-sync":
            return "local-sync, 1 thread"
        return f"local-task, {self.workers} worker(s)" if self.workers else "local-task, a worker per core"


def check_threads(threads, *, what: str = "threads") -> int | None:
    """`threads` as a count >= 1 (None: not given); a ValueError naming `what` otherwise."""
    if threads is None:
        return None
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
        raise ValueError(f"{what} must be a whole number >= 1 (1: the calling thread, N: IREE's local-task "
                         f"device with N worker threads), got {threads!r}")
    return int(threads)


def resolve_device(device: "str | Device | None" = None, threads: int | None = None) -> Device:
    """The device to run on from a device name and/or a thread count (the meaning of
    `spiree run --threads N`, `spiree.load(..., threads=N)` and the Android API's
    `Options().threads(n)`): threads=1 is local-sync (the calling thread; measured faster than
    a one-worker local-task on MobileNet-v1, see README "Threads"), threads=N > 1 local-task
    with N workers; with `device` local-task and threads=1, a one-worker local-task."""
    threads = check_threads(threads)
    if isinstance(device, Device):
        if threads is None:
            return device
        device = device.name
    if device is not None:
        device = check_device(device)
    if threads is None:
        return Device(device or DEFAULT_DEVICE)
    if device == "local-sync" and threads > 1:
        raise RunError(f"local-sync runs on the calling thread only, so it cannot use {threads} threads: "
                       f"use local-task (or leave the device out) with {threads} threads")
    if device == "local-task" or threads > 1:
        return Device("local-task", threads)
    return Device("local-sync")


@contextmanager
def waiting_on_workers(device: Device):
    """Run the block (a call that waits for `device`'s workers) with the calling thread in
    Linux's SCHED_BATCH policy when `device` is local-task, then restore SCHED_OTHER.

    The calling thread only submits the work and sleeps until the workers signal the end;
    woken, it preempts the worker that woke it (same priority, a fresh sleeper) and spins in
    IREE's wait until that worker, now off its core, clears the wait. SCHED_BATCH (the same
    weight, no wakeup preemption; unprivileged threads may switch to it and back) lets the
    worker finish first (that spin was ~4% of `perf` samples on 2 workers). This machine, 2
    workers, in-process, alternating with and without it (medians of 7 rounds): MobileNet-v1
    dense 7.01 -> 6.50 ms, MobileNetV2 90% 3.11 -> 2.20 ms.
    No change on local-sync (the calling thread does the work) or where the policy is not
    SCHED_OTHER or cannot be changed."""
    setter = getattr(os, "sched_setscheduler", None)
    if device.name != "local-task" or setter is None:
        yield
        return
    try:
        switched = os.sched_getscheduler(0) == os.SCHED_OTHER
        if switched:
            setter(0, os.SCHED_BATCH, os.sched_param(0))
    except OSError:
        switched = False
    try:
        yield
    finally:
        if switched:
            setter(0, os.SCHED_OTHER, os.sched_param(0))


_HAL_DEVICES: dict[Device, tuple] = {}
_HAL_LOCK = threading.Lock()


def hal_device(device: Device):
    """The in-process `iree.runtime` HAL device for `device`, created once per process.

    local-task's driver builds its task executor from IREE's process-global
    `--task_topology_group_count` flag when the driver is created, so each worker count gets
    its own (uncached) driver, created right after setting the flag."""
    with _HAL_LOCK:
        found = _HAL_DEVICES.get(device)
        if found is None:
            import iree.runtime as rt
            from iree.runtime._binding import create_hal_driver

            if device.name == "local-sync":
                driver = create_hal_driver("local-sync")
                found = (driver, driver.create_default_device(allocators=[ALLOCATOR]))
            else:
                rt.flags.parse_flags(f"--task_topology_group_count={device.workers or 0}")
                try:
                    driver = create_hal_driver("local-task")
                    found = (driver, driver.create_default_device(allocators=[ALLOCATOR]))
                finally:
                    rt.flags.parse_flags("--task_topology_group_count=0")
            _HAL_DEVICES[device] = found
        return found[1]
