"""Accuracy evidence, cut down to seconds: bench/prune_digits.py at 50% with G=4 and unstructured."""
import json

import pytest

pytest.importorskip("sklearn")

import torch  # noqa: E402

from .conftest import bench_script  # noqa: E402


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny net: one thread is as fast, and shares the machine better
    yield
    torch.set_num_threads(threads)


def test_finetuned_accuracy_at_half_sparsity_within_3_points_of_dense(one_thread):
    bench = bench_script("prune_digits")
    configs = [bench.Config("pdp", 4, True, False, 0.5, False), bench.Config("magnitude", 4, True, False, 0.5, True),
               bench.Config("magnitude", 1, False, False, 0.5, False)]
    r = bench.run(configs=configs, seeds=(0,), width=16, epochs=12, finetune_epochs=4)
    dense = r["rows"][0]
    assert dense["method"] == "dense" and dense["sparsity"] == 0 and dense["accuracy"] > 0.9, r
    table = bench.format_table(r)
    for row, cfg in zip(r["rows"][1:], configs):
        assert {k: row[k] for k in ("method", "group", "balanced", "rearranged", "sparsity", "distilled")} == {
            "method": cfg.method, "group": cfg.group, "balanced": cfg.balanced, "rearranged": False,
            "sparsity": 0.5, "distilled": cfg.distilled}
        assert row["accuracy"] >= dense["accuracy"] - 0.03, table
    assert r["rows"][3]["pattern"] == "unstructured" and "| pdp | 50% |  |  |  | " in table


def test_json_and_plot(tmp_path, one_thread, capsys):
    bench = bench_script("prune_digits")
    out = tmp_path / "digits.json"
    # width 16: the first 1x1 layer then has 16 input positions; at width 8 its groups keep at
    # least one of 8 (87.5% at most), and 90% overall within the script's 1% is out of reach.
    assert bench.main(["--json", str(out), "--quick", "--width", "16", "--epochs", "2", "--finetune-epochs", "2"]) == 0
    r = json.loads(out.read_text())
    assert [(row["name"], row["pattern"]) for row in r["rows"]] == [
        ("dense", "dense"),
        ("magnitude", "unstructured"), ("magnitude", "G=4"), ("magnitude + distill", "G=4"),
        ("pdp", "unstructured"), ("pdp", "G=4"), ("pdp + distill", "G=4"), ("pdp + rearranged", "G=4"),
        ("magnitude global", "unstructured"), ("magnitude global", "G=4")]
    assert all(len(row["accuracies"]) == 1 and 0 <= row["accuracy"] <= 1 for row in r["rows"])
    assert out.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "best G=4 at 90% within 3.0 points of dense" in capsys.readouterr().out


def test_distillation_loss():
    bench = bench_script("prune_digits")
    torch.manual_seed(0)
    s, t, y = torch.randn(8, 10), torch.randn(8, 10), torch.randint(0, 10, (8,))
    ce = torch.nn.functional.cross_entropy(s, y)
    assert torch.allclose(bench.distillation_loss(s, t, y, alpha=0.0), ce)
    assert torch.allclose(bench.distillation_loss(s, s, y, alpha=0.3), 0.7 * ce)  # student == teacher: no soft term
    # the soft term by hand: T^2 * KL(softmax(t/T) || softmax(s/T)), batch mean
    pt, ps = torch.softmax(t / 2, 1), torch.softmax(s / 2, 1)
    kl = (pt * (pt.log() - ps.log())).sum(1).mean()
    assert torch.allclose(bench.distillation_loss(s, t, y, alpha=1.0, temperature=2.0), 4 * kl, atol=1e-6)
