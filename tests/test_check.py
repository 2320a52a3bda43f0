"""`compare`: what `spiree run --check` decides, tested on numbers (the CLI prints
`OutputCheck.line()` and exits 1 unless every check passed)."""
import numpy as np
import pytest

from spiree.pipeline.check import OutputCheck, compare, top_k


def logits(seed=0, batch=2, classes=10):
    return np.random.default_rng(seed).standard_normal((batch, classes)).astype(np.float32) * 4


def test_identical_outputs_pass_with_zero_error():
    r = logits()
    [c] = compare([r.copy()], [r], atol=1e-4)
    assert c == OutputCheck(0, 0.0, 0.0, 1e-4, True, True) and c.passed
    assert c.line() == ("check output0: max abs error 0 (tolerance 0.0001), max rel error 0, "
                        "top-1 agrees, top-5 identical")


def test_error_beyond_the_tolerance_fails_and_is_measured():
    r = logits()
    o = r.copy()
    o[1, 3] += 3e-4
    [c] = compare([o], [r], atol=1e-4)
    assert c.max_abs_error == pytest.approx(3e-4, rel=1e-3)
    assert c.max_rel_error == pytest.approx(c.max_abs_error / np.abs(r).max())
    assert not c.passed
    [c] = compare([o], [r], atol=1e-3)
    assert c.passed


def test_a_reordered_top5_fails_even_within_the_tolerance():
    r = np.array([[5.0, 4.0, 3.0, 2.0, 1.0, 0.0]], np.float32)
    o = r.copy()
    o[0, 3], o[0, 4] = 1.0, 2.0  # 4th and 5th swap places
    [c] = compare([o], [r], atol=10.0)
    assert (c.top1_agrees, c.top5_identical, c.passed) == (True, False, False)
    assert c.line().endswith("top-1 agrees, top-5 DIFFERS")
    o[0, 0] = 0.0  # now the top-1 moves too
    [c] = compare([o], [r], atol=10.0)
    assert (c.top1_agrees, c.top5_identical) == (False, False) and c.line().endswith("top-1 DIFFERS, top-5 DIFFERS")


def test_every_batch_row_counts():
    r = logits(batch=3)
    o = r.copy()
    o[2] = -o[2]  # only the last image differs
    [c] = compare([o], [r], atol=100.0)
    assert c.top5_identical is False and not c.passed


def test_outputs_without_classes_check_the_tolerance_only():
    r = np.full((1, 4, 2, 2), 2.0, np.float32)
    [c] = compare([r + 0.0625], [r], atol=0.1)  # exact in float32
    assert (c.top1_agrees, c.top5_identical, c.passed) == (None, None, True)
    assert c.line() == "check output0: max abs error 0.0625 (tolerance 0.1), max rel error 0.0312"


def test_several_outputs_in_order_and_mismatches_are_errors():
    a, b = logits(1), np.zeros((3,), np.float32)
    checks = compare([a, b + 1], [a, b], atol=0.5)
    assert [(c.index, c.passed) for c in checks] == [(0, True), (1, False)]
    with pytest.raises(ValueError, match=r"^1 output\(s\) but 2 reference output\(s\): the artifact and its model disagree$"):
        compare([a], [a, b], atol=1.0)
    with pytest.raises(ValueError, match=r"^output0 has shape \[2, 10\], the reference \[3\]$"):
        compare([a], [b], atol=1.0)


def test_top_k_is_stable_on_ties():
    assert top_k(np.array([[1.0, 3.0, 3.0, 0.0]]), 3) == [1, 2, 0]
