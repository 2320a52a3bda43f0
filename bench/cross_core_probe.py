#!/usr/bin/env python
"""Which state this machine's two vCPUs are in, before a 2-thread benchmark.

    .venv/bin/python bench/cross_core_probe.py

One thread (pinned to CPU 0) reads 50 KB, then a second (CPU 1) rewrites them; the median time
of the rewrite over 201 rounds, and of the same rewrite without the other core's read first.
On this machine kind the shared rewrite takes ~5 us in the vCPUs' "fast" state and ~22 us in
the "slow" one (lines handed between cores one at a time), 0.5 us private; 2-thread speedups
of every engine follow it (README "Performance"). Prints one JSON line; needs clang.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

SOURCE = r"""
/* Cross-core write probe: core A reads N bytes, then core B rewrites them; prints B's median
   time in microseconds (and the same rewrite when A did not read them first). */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define N (50 * 1024)
#define ROUNDS 201
static float buf[N / 4] __attribute__((aligned(64)));
static atomic_int turn;
static volatile float sink;

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec * 1e-3;
}
static void pin(int cpu) {
  cpu_set_t s;
  CPU_ZERO(&s);
  CPU_SET(cpu, &s);
  pthread_setaffinity_np(pthread_self(), sizeof s, &s);
}
static int cmp(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}
static void* reader(void* arg) {
  int shared = *(int*)arg;
  pin(0);
  for (int r = 0; r < ROUNDS; ++r) {
    while (atomic_load(&turn) != 2 * r) {}
    if (shared) {
      float s = 0;
      for (int i = 0; i < N / 4; i += 16) s += buf[i];
      sink = s;
    }
    atomic_store(&turn, 2 * r + 1);
  }
  return 0;
}
static double run(int shared) {
  static double t[ROUNDS];
  pthread_t th;
  atomic_store(&turn, 0);
  pthread_create(&th, 0, reader, &shared);
  pin(1);
  for (int r = 0; r < ROUNDS; ++r) {
    while (atomic_load(&turn) != 2 * r + 1) {}
    double t0 = now_us();
    for (int i = 0; i < N / 4; i += 16) buf[i] = (float)r;
    t[r] = now_us() - t0;
    atomic_store(&turn, 2 * r + 2);
  }
  pthread_join(th, 0);
  qsort(t, ROUNDS, sizeof t[0], cmp);
  return t[ROUNDS / 2];
}
int main(void) {
  double s = run(1), p = run(0);
  printf("{\"after_other_core_read_us\": %.2f, \"private_us\": %.2f}\n", s, p);
  return 0;
}
"""


def probe() -> dict:
    with tempfile.TemporaryDirectory(prefix="spiree-probe-") as tmp:
        src, exe = Path(tmp) / "probe.c", Path(tmp) / "probe"
        src.write_text(SOURCE)
        subprocess.run(["clang", "-O2", "-pthread", str(src), "-o", str(exe)], check=True)
        return json.loads(subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout)


if __name__ == "__main__":
    result = probe()
    us = result["after_other_core_read_us"]
    result["state"] = "fast" if us < 10 else "slow" if us > 16 else "in between"
    json.dump(result, sys.stdout)
    print()
