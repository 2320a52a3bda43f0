"""Accuracy evidence, cut down to seconds: bench/prune_digits.py at 50% with G=4."""
import importlib.util
import sys
from pathlib import Path

import pytest

pytest.importorskip("sklearn")


def _bench():
    path = Path(__file__).resolve().parents[1] / "bench" / "prune_digits.py"
    spec = importlib.util.spec_from_file_location("prune_digits", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def test_finetuned_accuracy_at_half_sparsity_within_3_points_of_dense():
    import torch

    bench = _bench()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny net: one thread is as fast, and shares the machine better
    try:
        r = bench.run(sparsities=(0.5,), group=4, rearrange=(False,), width=16, epochs=12, finetune_epochs=4,
                      gradual=False)
    finally:
        torch.set_num_threads(threads)
    row = r["rows"][0]
    assert r["dense_accuracy"] > 0.9, r
    assert abs(row["zeros"] - 0.5) < 1e-9  # every pruned layer has an even number of positions
    assert row["after_finetune"] >= r["dense_accuracy"] - 0.03, bench.format_table(r)
