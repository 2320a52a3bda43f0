"""Pruning torch.export programs (pipeline/prune/exported.py, exported_rearrange.py): the same
weights as pruning the nn.Module, for every form of the program and every option; weights that
are buffers or constants; rearrangement on the aten graph; and the command line end to end."""
import copy
import logging

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from spiree.mlir_passes import pattern
from spiree.pipeline.prune import PruneOptions, prune, prune_model
from spiree.pipeline.prune.exported import ProgramView, find_layers
from spiree.pipeline.prune.exported_rearrange import rearrange_program

from .conftest import have_qemu
from .test_cli import error_line, spiree


class Block(nn.Module):
    def __init__(self, c, e):
        super().__init__()
        self.expand = nn.Conv2d(c, e, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(e)
        self.dw = nn.Conv2d(e, e, 3, padding=1, groups=e, bias=False)
        self.bn2 = nn.BatchNorm2d(e)
        self.project = nn.Conv2d(e, c, 1)

    def forward(self, x):
        y = torch.relu(self.bn1(self.expand(x)))
        return x + self.project(torch.relu(self.bn2(self.dw(y))))


class ResNet(nn.Module):
    """A residual conv net of our own: 1x1 expand/project around a depthwise conv, a 3x3 conv,
    BatchNorm everywhere, a global pool and a Linear head."""

    def __init__(self, c=32, e=64, classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU())
        self.blocks = nn.Sequential(Block(c, e), Block(c, e))
        self.conv3 = nn.Conv2d(c, c, 3, padding=1)
        self.head = nn.Linear(c, classes)

    def forward(self, x):
        x = torch.relu(self.conv3(self.blocks(self.stem(x))))
        return self.head(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def resnet(seed=0):
    torch.manual_seed(seed)
    m = ResNet().eval()
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.normal_(0, 0.1)
                mod.running_mean.normal_(0, 0.1)
                mod.running_var.uniform_(0.5, 1.5)
    return m, (torch.randn(1, 3, 16, 16),)


class Stored(nn.Module):
    """Weights that are not parameters: a buffer, a non-persistent buffer and a plain tensor
    attribute (lifted as a constant), used through F.conv2d / F.linear inside submodule `blk`."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.stem = nn.Conv2d(3, 32, 3, padding=1)
        self.blk = nn.Module()
        self.blk.register_buffer("w1", torch.randn(64, 32, 1, 1, generator=g) / 6)
        self.register_buffer("w2", torch.randn(32, 64, 1, 1, generator=g) / 8, persistent=False)
        self.fc = torch.randn(10, 32, generator=g) / 6

    def forward(self, x):
        x = F.relu(self.stem(x))
        x = x + F.conv2d(F.relu(F.conv2d(x, self.blk.w1)), self.w2)
        return F.linear(x.mean((2, 3)), self.fc)


def stored():
    return Stored().eval(), (torch.randn(1, 3, 8, 8, generator=torch.Generator().manual_seed(1)),)


def export(model, inputs):
    return torch.export.export(model, inputs)


def _weights(result_model) -> dict[str, torch.Tensor]:
    if isinstance(result_model, torch.export.ExportedProgram):
        return {**result_model.state_dict, **result_model.constants}
    return dict(result_model.state_dict())


def _run(model, inputs):
    with torch.no_grad():
        m = model.module() if isinstance(model, torch.export.ExportedProgram) else model
        return m(*inputs)


OPTIONS = [
    PruneOptions(0.7, 4),
    PruneOptions(0.5, 2, balanced=False),
    PruneOptions(0.8, 8, ranking="global"),
    PruneOptions(0.7, 4, rearrange=True),
]
FORMS = {
    "program": lambda ep: ep,
    "module": lambda ep: ep.module(),
    "decomposed": lambda ep: ep.run_decompositions(),
}


@pytest.mark.parametrize("form", sorted(FORMS))
@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: f"s{o.sparsity}-G{o.group}-{o.ranking}"
                         f"{'-unbalanced' if not o.balanced else ''}{'-rearranged' if o.rearrange else ''}")
def test_program_prunes_like_the_module(form, options):
    model, x = resnet()
    ep = export(model, x)
    want = prune(model, options)
    program = FORMS[form](ep)
    got = prune(program, options)
    exported = isinstance(program, torch.export.ExportedProgram)
    assert isinstance(got.model, torch.export.ExportedProgram) == exported and got.model is not program
    ws, wg = _weights(want.model), _weights(got.model)
    for k, v in wg.items():  # every tensor, BatchNorm statistics included (rearrangement moves them)
        assert torch.equal(v, ws[k]), k
    assert [r["name"] for r in got.layers] == [r["name"] for r in want.layers] == [
        "blocks.0.expand", "blocks.0.project", "blocks.1.expand", "blocks.1.project", "conv3", "head"]
    assert got.layers == want.layers
    assert [(s.producers, s.permuted) for s in got.spaces] == [(s.producers, s.permuted) for s in want.spaces]
    if options.rearrange:
        assert any(s.permuted for s in got.spaces)
    assert torch.equal(_run(got.model, x), _run(want.model, x))
    # the input program is untouched
    assert torch.equal(_weights(program)["conv3.weight"], model.conv3.weight)


def test_config_entries_and_prune_model_on_a_program():
    model, x = resnet()
    config = [{"module_fqn": "blocks.0.expand", "sparsity": 0.5, "group": 2},
              {"tensor_fqn": "head.weight", "balanced": False}, "conv3"]
    want = prune_model(model, sparsity=0.75, group=4, config=config)
    got = prune_model(export(model, x), sparsity=0.75, group=4, config=config)
    for k, v in got.state_dict.items():
        assert torch.equal(v, want.state_dict()[k]), k
    w = got.state_dict["blocks.0.expand.weight"].detach().reshape(64, -1).numpy()
    assert pattern.holds(w, 2) and (w == 0).mean() == 0.5
    assert (got.state_dict["blocks.1.expand.weight"] != 0).all()  # not configured


def test_weights_in_buffers_and_constants(tmp_path):
    model, x = stored()
    ep = export(model, x)
    sig = ep.graph_signature
    assert sig.inputs_to_buffers and sig.inputs_to_lifted_tensor_constants and "w2" in ep.constants
    layers = find_layers(ProgramView(ep))
    assert [(l.name, l.fqn, l.kind, l.module_path) for l in layers] == [
        ("stem", "stem.weight", "conv", "stem"), ("blk.w1", "blk.w1", "conv", ""),
        ("w2", "w2", "conv", ""), ("fc", "fc", "linear", "")]
    result = prune(ep, PruneOptions(0.6, 4))
    assert [r["name"] for r in result.layers] == ["blk.w1", "w2", "fc"]  # the stem has 27 positions
    pruned = result.model
    originals = {"blk.w1": model.blk.w1, "w2": model.w2, "fc": model.fc}
    for name, t in (("blk.w1", pruned.state_dict["blk.w1"]), ("w2", pruned.constants["w2"]),
                    ("fc", pruned.constants["fc"])):
        w = t.reshape(t.shape[0], -1).numpy()
        assert pattern.holds(w, 4) and abs((w == 0).mean() - 0.6) < 0.02, name
        assert torch.equal(t[t != 0], originals[name][t != 0]), name  # kept weights unchanged
    # The written .pt2 loads and computes what the zero-masked original computes.
    torch.export.save(pruned, tmp_path / "p.pt2")
    loaded = torch.export.load(tmp_path / "p.pt2")
    masked = copy.deepcopy(model)
    with torch.no_grad():
        masked.blk.w1.mul_(pruned.state_dict["blk.w1"] != 0)
        masked.w2.mul_(pruned.constants["w2"] != 0)
        masked.fc.mul_(pruned.constants["fc"] != 0)
        want = masked(*x)
    got = _run(loaded, x)
    assert float((got - want).abs().max()) <= 1e-6
    assert not torch.equal(got, _run(ep, x))  # pruning did change the function
    # config by the call's module path (nn_module_stack) or by the tensor's name
    only = prune(ep, PruneOptions(0.5, 4), config=[{"tensor_fqn": "w2"}, "fc"])
    assert [r["name"] for r in only.layers] == ["w2", "fc"]
    with pytest.raises(ValueError, match=r"no layer 'nope' in the model: name one of its Conv2d \(groups=1\) or "
                                         r"Linear modules, e.g. 'stem', 'blk.w1', 'w2' \(4 in all\)"):
        prune(ep, PruneOptions(0.5, 4), config=["nope"])


def test_config_by_module_path_from_nn_module_stack():
    class Inner(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("kernel", torch.randn(48, 32, 1, 1))

        def forward(self, x):
            return F.conv2d(x, self.kernel)

    class Outer(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = Inner()

        def forward(self, x):
            return self.body(x).mean((2, 3))

    ep = export(Outer().eval(), (torch.randn(1, 32, 4, 4),))
    (layer,) = find_layers(ProgramView(ep))
    assert (layer.name, layer.module_path) == ("body.kernel", "body")
    r = prune(ep, PruneOptions(0.5, 4), config=["body"])
    assert [l["name"] for l in r.layers] == ["body.kernel"] and r.layers[0]["zeros"] == 0.5


def test_rearrangement_follows_buffers_and_says_what_it_leaves(caplog):
    model, x = stored()
    ep = export(model, x)
    with caplog.at_level(logging.INFO, logger="spiree"):
        r = prune(ep, PruneOptions(0.6, 4, rearrange=True))
    # the residual stream (stem, w2 -> w1, fc) is permuted; fc's outputs are the network's
    assert [(s.producers, s.permuted) for s in r.spaces] == [(["w2"], True), (["blk.w1"], True)]
    assert "rearrange: channels of fc keep their order (network output)" in caplog.messages
    plain = prune(ep, PruneOptions(0.6, 4))
    assert r.energy_kept > plain.energy_kept
    assert float((_run(r.model, x) - _run(plain.model, x)).abs().max()) > 0  # a different pruning


@pytest.mark.parametrize("make", [stored, resnet])
@pytest.mark.parametrize("form", sorted(FORMS))
def test_rearrangement_alone_keeps_the_function(make, form):
    model, x = make()
    program = FORMS[form](export(model, x))
    view = ProgramView(program)
    layers = find_layers(view)
    before = {l.name: l.weight.clone() for l in layers}
    reports = rearrange_program(view, layers, group={l.name: 4 for l in layers[1:]}, sparsity=0.7)
    assert any(r.permuted for r in reports)
    assert any(not torch.equal(before[l.name], l.weight) for l in layers)
    assert float((_run(program, x) - _run(model, x)).abs().max()) <= 1e-5


def test_rearrangement_leaves_shared_and_concatenated_channels_alone(caplog):
    class Odd(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(32, 32, 1)
            self.b = nn.Conv2d(64, 32, 1)
            self.c = nn.Conv2d(32, 32, 1)

        def forward(self, x):
            y = torch.cat([self.a(x), x], 1)  # cat: a's channels cannot be permuted
            z = self.c(self.c(self.b(y)))     # c used twice
            return z.sum()

    torch.manual_seed(0)
    ep = export(Odd().eval(), (torch.randn(1, 32, 4, 4),))
    with caplog.at_level(logging.INFO, logger="spiree"):
        r = prune(ep, PruneOptions(0.5, 4, rearrange=True))
    assert r.spaces == [] and len(r.layers) == 3
    text = "\n".join(caplog.messages)
    assert "rearrange: channels of a keep their order (cat.default (cat))" in text
    assert "rearrange: channels of b keep their order (tensor c.weight is used 2 times)" in text


def test_a_computed_weight_is_not_a_layer():
    class Masked(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.randn(32, 32, 1, 1))
            self.register_buffer("m", (torch.rand(32, 32, 1, 1) > 0.5).float())
            self.conv = nn.Conv2d(32, 32, 1)

        def forward(self, x):
            return self.conv(F.conv2d(x, self.w * self.m))

    ep = export(Masked().eval(), (torch.randn(1, 32, 4, 4),))
    assert [l.name for l in find_layers(ProgramView(ep))] == ["conv"]
    with pytest.raises(ValueError, match="no layer 'w' in the model"):
        prune(ep, PruneOptions(0.5, 4), config=["w"])


def test_a_program_without_prunable_layers_says_so():
    ep = export(nn.Conv2d(8, 8, 3, groups=8).eval(), (torch.randn(1, 8, 6, 6),))
    with pytest.raises(ValueError, match=r"^the model has no prunable layers: spiree prunes 1x1 Conv2d and Linear "
                                         r"layers, and KxK Conv2d \(groups=1\) with at least 32 positions "
                                         r"\(input channels x kernel area\); depthwise convolutions stay dense$"):
        prune(ep, PruneOptions(0.5, 4))


# -- the command line, end to end ----------------------------------------------------------------

def _quiet(stderr: str) -> None:
    """Only spiree's own lines: no torch/IREE warnings or logged tracebacks."""
    others = [l for l in stderr.splitlines() if not l.startswith("[spiree] ")]
    assert others == [], stderr


@pytest.mark.arm64
@pytest.mark.skipif(not have_qemu(), reason="needs qemu-aarch64 (scripts/setup.sh)")
def test_cli_prune_a_pt2_compile_arm64_report_run_check(tmp_path):
    torch.export.save(export(*resnet()), tmp_path / "net.pt2")
    p = spiree("prune", tmp_path / "net.pt2", "--sparsity", "0.7", "--group", "4", "-o", tmp_path / "p.pt2")
    assert p.returncode == 0, p.stderr
    assert f"wrote {tmp_path / 'p.pt2'}: 6 layer(s) pruned to G=4 balanced, 69.8% of their weights zero" in p.stdout
    _quiet(p.stderr)
    assert "[spiree] prune: blocks.0.expand      conv1x1  G=4 sparsity 0.688" in p.stderr
    p = spiree("compile", tmp_path / "p.pt2", "--target", "arm64", "--report", "-o", tmp_path / "p.vmfb")
    assert p.returncode == 0, p.stderr
    _quiet(p.stderr)
    sparse = [l.split() for l in p.stdout.splitlines() if " sparse " in l]
    assert [(r[1], r[2]) for r in sparse] == [("conv1x1", "64x32x1x1"), ("conv1x1", "32x64x1x1"),
                                               ("conv1x1", "64x32x1x1"), ("conv1x1", "32x64x1x1"),
                                               ("linear", "10x32"), ("conv3x3", "32x32x3x3")]
    p = spiree("run", tmp_path / "p.vmfb", "--check")
    assert p.returncode == 0 and "check: PASSED" in p.stdout, p.stdout + p.stderr
    _quiet(p.stderr)


def test_cli_compile_a_pt2_with_sparsity_and_check(tmp_path):
    torch.export.save(export(*resnet()), tmp_path / "net.pt2")
    out = tmp_path / "s.vmfb"
    p = spiree("compile", tmp_path / "net.pt2", "--sparsity", "0.7", "--rearrange", "--report", "-o", out)
    assert p.returncode == 0, p.stderr
    _quiet(p.stderr)
    assert "[spiree] prune: 6 layer(s), 69.8% of their weights zero" in p.stderr
    assert "[spiree] rearrange: channels of head keep their order (network output)" in p.stderr
    assert sum(" sparse " in l for l in p.stdout.splitlines()) == 6  # 4 1x1 convs, the 3x3 conv, the head
    p = spiree("run", out, "--check")
    assert p.returncode == 0 and "check: PASSED" in p.stdout, p.stdout + p.stderr


def test_cli_buffers_and_constants_prune_compile_check(tmp_path):
    torch.export.save(export(*stored()), tmp_path / "stored.pt2")
    p = spiree("inspect", tmp_path / "stored.pt2")
    assert p.returncode == 0, p.stderr
    assert [l.split()[0] for l in p.stdout.splitlines()[4:8]] == ["stem", "blk.w1", "w2", "fc"]
    p = spiree("prune", tmp_path / "stored.pt2", "--sparsity", "0.6", "--rearrange", "--layers", "blk.w1,w2,fc",
               "-o", tmp_path / "p.pt2")
    assert p.returncode == 0, p.stderr
    assert "3 layer(s) pruned to G=4 balanced" in p.stdout and "without rearrangement" in p.stdout
    p = spiree("-q", "compile", tmp_path / "p.pt2", "--report", "-o", tmp_path / "p.vmfb")
    assert p.returncode == 0 and p.stderr == "", p.stderr
    assert sum(" sparse " in l for l in p.stdout.splitlines()) == 3
    p = spiree("run", tmp_path / "p.vmfb", "--check")
    assert p.returncode == 0 and "check: PASSED" in p.stdout, p.stdout + p.stderr


def test_cli_unknown_layer_of_a_pt2_is_one_line(tmp_path):
    torch.export.save(export(*stored()), tmp_path / "stored.pt2")
    p = spiree("prune", tmp_path / "stored.pt2", "--sparsity", "0.6", "--layers", "w9", "-o", tmp_path / "p.pt2")
    assert p.returncode == 1
    line = error_line(p)
    assert line.startswith("spiree: error: no layer 'w9' in the model: name one of its Conv2d (groups=1) or "
                           "Linear modules, e.g. 'stem', 'blk.w1', 'w2' (4 in all)")
    assert p.stderr.splitlines() == [line]
    assert not (tmp_path / "p.pt2").exists()
