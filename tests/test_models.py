"""Model zoo and model loading: published figures of the standard architectures, registry,
.pt2, factories."""
import re
import subprocess
import sys

import pytest
import torch
from torch import nn

from spiree.models.init import calibrate_batchnorm_, calibration_batch
from spiree.models.layers import make_divisible
from spiree.models.registry import REGISTRY, ModelError, load_model, parse_model_source
from spiree.pipeline.export import fold_batchnorm
from spiree.pipeline.inspect import layer_table, parameter_count
from spiree.pipeline.prune import PruneOptions, prune


def test_mobilenet_v1_matches_published_figures():
    lm = load_model(parse_model_source("mobilenet_v1"))
    layers = layer_table(lm.module, lm.example_inputs)
    macs = sum(l.macs for l in layers)
    # Howard et al. 2017, Table 1/8: 569M mult-adds, 4.2M parameters.
    assert 568e6 <= macs <= 570e6
    assert parameter_count(lm.module) == 4_231_976
    kinds = [f"{l.op} {l.kernel}".strip() for l in layers]
    assert kinds[0] == "conv 3x3/2" and kinds[-1] == "linear"
    assert kinds.count("dwconv 3x3") + kinds.count("dwconv 3x3/2") == 13
    assert kinds.count("conv 1x1") == 13
    one_by_one = sum(l.macs for l in layers if l.kernel == "1x1")
    assert 0.94 < one_by_one / macs < 0.96  # 1x1 convolutions carry ~95% of the work


def test_width_and_resolution_scale_the_model():
    lm = load_model(parse_model_source("mobilenet_v1", options={"width": 0.5, "resolution": 128}))
    assert tuple(lm.example_inputs[0].shape) == (1, 3, 128, 128)
    macs = sum(l.macs for l in layer_table(lm.module, lm.example_inputs))
    assert 48e6 < macs < 50e6  # published: 49M for 0.5 MobileNet-128


def test_random_weights_are_deterministic_and_keep_activations_alive():
    a = load_model(parse_model_source("tiny_cnn", seed=3))
    b = load_model(parse_model_source("tiny_cnn", seed=3))
    x = a.example_inputs[0]
    with torch.no_grad():
        ya, yb = a.module(x), b.module(x)
        bias = a.module.classifier.bias
    assert torch.equal(ya, yb)
    # The logits are not just the classifier bias (activations did not die out).
    assert (ya[0] - bias).abs().max() > 0.1


def test_unknown_model_name_lists_choices():
    with pytest.raises(ModelError, match=r"unknown model 'mobilenet_v9': use one of mobilenet_v1, mobilenet_v2, mobilenet_v3_large, efficientnet_b0, resnet18, resnet34, resnet50, tiny_cnn, tiny_resnet"):
        parse_model_source("mobilenet_v9")


def test_unknown_model_option_lists_valid_ones():
    with pytest.raises(ModelError, match=r"model 'tiny_cnn' has no option 'depth': valid options are width, num_classes, resolution, batch"):
        parse_model_source("tiny_cnn", options={"depth": 3})


def test_pt2_roundtrip(tmp_path):
    lm = load_model(parse_model_source("tiny_cnn"))
    ep = torch.export.export(lm.module, lm.example_inputs)
    torch.export.save(ep, tmp_path / "m.pt2")
    loaded = load_model(parse_model_source(str(tmp_path / "m.pt2")))
    assert tuple(loaded.example_inputs[0].shape) == (1, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(loaded.module(lm.example_inputs[0]), lm.module(lm.example_inputs[0]), atol=1e-6)


def test_missing_pt2(tmp_path):
    with pytest.raises(ModelError, match=r"model file .*nope\.pt2 does not exist: pass a \.pt2 written by torch\.export\.save"):
        load_model(parse_model_source(str(tmp_path / "nope.pt2")))


def test_corrupted_pt2(tmp_path):
    p = tmp_path / "bad.pt2"
    p.write_bytes(b"PK\x03\x04 this is not a torch.export archive")
    with pytest.raises(ModelError, match=r"cannot read .*bad\.pt2 as a torch\.export program .*: re-create it with torch\.export\.save"):
        load_model(parse_model_source(str(p)))


def test_factory_that_raises(tmp_path, monkeypatch):
    (tmp_path / "userfac.py").write_text(
        "def broken():\n    raise RuntimeError('weights server down')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModelError, match=r"factory userfac:broken raised RuntimeError: weights server down"):
        load_model(parse_model_source("userfac:broken"))


def test_factory_returning_model_and_inputs(tmp_path, monkeypatch):
    (tmp_path / "userfac2.py").write_text(
        "import torch\n"
        "def make():\n"
        "    m = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 1), torch.nn.ReLU())\n"
        "    return m, (torch.randn(1, 3, 8, 8),)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    lm = load_model(parse_model_source("userfac2:make"))
    assert tuple(lm.example_inputs[0].shape) == (1, 3, 8, 8)


def test_state_dict_weights(tmp_path):
    a = load_model(parse_model_source("tiny_cnn", seed=1))
    torch.save(a.module.state_dict(), tmp_path / "w.pt")
    b = load_model(parse_model_source("tiny_cnn", seed=2, weights=str(tmp_path / "w.pt")))
    x = a.example_inputs[0]
    with torch.no_grad():
        assert torch.equal(a.module(x), b.module(x))


def test_weights_that_do_not_fit(tmp_path):
    torch.save({"bogus": torch.zeros(2)}, tmp_path / "w.pt")
    with pytest.raises(ModelError, match=r"weights .*w\.pt do not fit the model: "):
        load_model(parse_model_source("tiny_cnn", weights=str(tmp_path / "w.pt")))


def test_tiny_width_is_a_channel_count():
    lm = load_model(parse_model_source("tiny_cnn", options={"width": 4.0}))
    assert lm.module.features[0][0].out_channels == 4
    with pytest.raises(ModelError, match=r"width 2.5 of a tiny net is its base channel count: pass a whole number >= 1"):
        load_model(parse_model_source("tiny_cnn", options={"width": 2.5}))


# -- the standard architectures --------------------------------------------------------------------

STANDARD = ("mobilenet_v2", "mobilenet_v3_large", "efficientnet_b0", "resnet18", "resnet34", "resnet50")

# name: (published multiply-adds, published parameters, exact parameter count of the standard
# implementation with BatchNorm's scale and shift, as `parameter_count` counts). Published:
# MobileNetV2 300M / 3.5M (Sandler et al. 2018; the authors' table: 3.47M); MobileNetV3-Large
# 219M / 5.4M (Howard et al. 2019, Table 3); EfficientNet-B0 0.39B / 5.3M (Tan & Le 2019,
# Table 2); ResNet-18 1.82G / 11.7M, ResNet-34 3.6G / 21.8M (He et al. 2016, Table 1: 1.8 and
# 3.6 x 10^9 FLOPs); ResNet-50 4.1G / 25.6M (stride on the 3x3 conv; the paper's 3.8G puts it on
# the first 1x1).
PUBLISHED = {
    "mobilenet_v2": (300e6, 3.5e6, 3_504_872),
    "mobilenet_v3_large": (219e6, 5.4e6, 5_483_032),
    "efficientnet_b0": (390e6, 5.3e6, 5_288_548),
    "resnet18": (1.82e9, 11.7e6, 11_689_512),
    "resnet34": (3.6e9, 21.8e6, 21_797_672),
    "resnet50": (4.1e9, 25.6e6, 25_557_032),
}
TOLERANCE = 0.02  # relative, against the published (rounded) figures


@pytest.mark.parametrize("name", STANDARD)
def test_standard_model_matches_published_figures(name):
    macs_pub, params_pub, params_exact = PUBLISHED[name]
    lm = load_model(parse_model_source(name))
    assert tuple(lm.example_inputs[0].shape) == (1, 3, 224, 224)
    layers = layer_table(lm.module, lm.example_inputs)
    macs = sum(l.macs for l in layers)
    params = parameter_count(lm.module)
    assert abs(macs / macs_pub - 1) <= TOLERANCE, f"{name}: {macs / 1e6:.1f}M MACs, published {macs_pub / 1e6:.0f}M"
    assert abs(params / params_pub - 1) <= TOLERANCE, f"{name}: {params:,} parameters, published {params_pub:,.0f}"
    assert params == params_exact
    # Every convolution and linear layer is counted, including those on 1x1 maps (SE).
    n_conv = sum(isinstance(m, nn.Conv2d) for m in lm.module.modules())
    n_linear = sum(isinstance(m, nn.Linear) for m in lm.module.modules())
    assert len(layers) == n_conv + n_linear
    assert sum(l.params for l in layers) + sum(
        m.weight.numel() + m.bias.numel() for m in lm.module.modules() if isinstance(m, nn.BatchNorm2d)) == params


def test_layer_kinds_of_the_standard_models():
    def kinds(name, **options):
        lm = load_model(parse_model_source(name, options={"resolution": 64, **options}))
        return [f"{l.op} {l.kernel}".strip() for l in layer_table(lm.module, lm.example_inputs)]

    k = kinds("mobilenet_v2")
    assert k[0] == "conv 3x3/2" and k[-1] == "linear"
    assert k.count("dwconv 3x3") + k.count("dwconv 3x3/2") == 17 and k.count("dwconv 3x3/2") == 4
    assert k.count("conv 1x1") == 16 + 17 + 1  # expansions (not in the first block), projections, last conv
    k = kinds("efficientnet_b0")
    assert k.count("dwconv 5x5") + k.count("dwconv 5x5/2") == 9 and k.count("dwconv 3x3/2") == 2
    assert k.count("conv 1x1") == 15 + 16 + 1 + 2 * 16  # expansions, projections, head, SE pairs
    k = kinds("mobilenet_v3_large")
    assert k.count("dwconv 5x5") + k.count("dwconv 5x5/2") == 6 and k.count("dwconv 5x5/2") == 2
    assert k.count("conv 1x1") == 14 + 15 + 1 + 2 * 8 and k.count("linear") == 2
    k = kinds("resnet18")
    assert k[0] == "conv 7x7/2" and k.count("conv 3x3") + k.count("conv 3x3/2") == 16
    assert k.count("conv 1x1/2") == 3 and k.count("conv 1x1") == 0  # the downsampling shortcuts
    k = kinds("resnet50")
    assert k.count("conv 1x1") == 2 * 16 + 1 and k.count("conv 1x1/2") == 3 and k.count("conv 3x3/2") == 3


@pytest.mark.parametrize("name", STANDARD)
def test_standard_model_forward_shape_and_scale(name):
    lm = load_model(parse_model_source(name, options={"resolution": 64, "batch": 2, "num_classes": 10}))
    assert tuple(lm.example_inputs[0].shape) == (2, 3, 64, 64)
    with torch.no_grad():
        y = lm.module(lm.example_inputs[0])
    assert tuple(y.shape) == (2, 10)
    # Calibrated BatchNorm statistics keep the logits at the scale of a trained network (random
    # statistics let the residual adds grow them: ResNet-50 reached ~1e4), and alive.
    assert 0.1 < float(y.std()) < 10, float(y.std())


@pytest.mark.parametrize("name", STANDARD)
def test_batchnorm_folds_and_pruner_takes_the_right_layers(name):
    lm = load_model(parse_model_source(name, options={"resolution": 64}))
    x = lm.example_inputs[0]
    folded = fold_batchnorm(lm.module)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    with torch.no_grad():
        y, yf = lm.module(x), folded(x)
    assert float((y - yf).abs().max()) <= 1e-4 * float(y.abs().max())
    result = prune(lm.module, PruneOptions(0.7, 4))
    modules = dict(lm.module.named_modules())
    pruned = {l["name"] for l in result.layers}
    for n, m in modules.items():
        positions = m.weight[0].numel() if isinstance(m, (nn.Conv2d, nn.Linear)) else 0
        pointwise = isinstance(m, nn.Linear) or (isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1))
        # every 1x1 conv and Linear (MobileNetV2's 16-channel expansion too), KxK from 32 positions
        expect = ((isinstance(m, nn.Conv2d) and m.groups == 1) or isinstance(m, nn.Linear)) and (pointwise or positions >= 32)
        assert (n in pruned) == expect, n
    assert abs(result.zeros - 0.7) < 0.01


def test_channel_rearrangement_keeps_the_function():
    from spiree.pipeline.prune import rearrange_channels

    for name in ("efficientnet_b0", "resnet18"):  # SE's per-channel scale; strided shortcuts
        lm = load_model(parse_model_source(name, options={"resolution": 64}))
        model, spaces = rearrange_channels(lm.module, group=4, sparsity=0.7)
        assert any(s.permuted for s in spaces)
        with torch.no_grad():
            y, yr = lm.module(lm.example_inputs[0]), model(lm.example_inputs[0])
        assert float((y - yr).abs().max()) <= 1e-5 * float(y.abs().max()), name


def test_width_multiplier_scales_channels():
    def module(name, width):
        return load_model(parse_model_source(name, options={"width": width, "resolution": 64})).module

    m = module("mobilenet_v2", 0.5)
    assert m.features[0][0].out_channels == 16 and m.features[-1][0].out_channels == 1280  # 1280 kept
    m = module("mobilenet_v2", 1.4)
    assert m.features[0][0].out_channels == 48 and m.features[-1][0].out_channels == 1792
    m = module("efficientnet_b0", 0.5)
    assert m.features[0][0].out_channels == 16 and m.classifier[1].in_features == 640
    m = module("mobilenet_v3_large", 0.75)
    assert m.features[0][0].out_channels == 16 and m.features[-1][0].out_channels == 720
    assert m.classifier[0].out_features == 960
    m = module("resnet18", 0.5)
    assert m.stem[0].out_channels == 32 and m.fc.in_features == 256
    m = module("resnet50", 0.25)
    assert m.stem[0].out_channels == 16 and m.fc.in_features == 512
    with pytest.raises(ValueError, match=r"width multiplier must be in \(0, 4\], got 0.0"):
        module("resnet18", 0.0)


@pytest.mark.parametrize("width, resolution, macs_pub", [(1.4, 224, 582e6), (0.5, 224, 97e6), (0.35, 224, 59e6),
                                                         (1.0, 128, 99e6)])
def test_mobilenet_v2_width_and_resolution_match_published(width, resolution, macs_pub):
    # The authors' table of MobileNetV2 variants (multiply-adds).
    lm = load_model(parse_model_source("mobilenet_v2", options={"width": width, "resolution": resolution}))
    macs = sum(l.macs for l in layer_table(lm.module, lm.example_inputs))
    assert abs(macs / macs_pub - 1) <= TOLERANCE, f"{macs / 1e6:.1f}M"


def test_make_divisible():
    assert make_divisible(32 * 0.5) == 16
    assert make_divisible(32 * 1.4) == 48  # 44.8 rounds to the nearest multiple of 8
    assert make_divisible(32 * 0.35) == 16  # 8 would be more than 10% below 11.2
    assert make_divisible(3) == 8  # at least the divisor
    assert make_divisible(1280 * 0.75) == 960


def test_batchnorm_calibration_normalizes_each_layer():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 8, 1), nn.BatchNorm2d(8))
    with torch.no_grad():
        net[0].bias.fill_(3.0)
    assert calibration_batch((3, 32, 32)) == 64 and calibration_batch((3, 224, 224)) == 2
    calibrate_batchnorm_(net, (3, 32, 32), seed=5)
    assert net.training  # the mode it had
    net.eval()
    x = torch.randn(16, 3, 32, 32, generator=torch.Generator().manual_seed(11))  # a fresh sample
    with torch.no_grad():
        h = net[1](net[0](x))
        y = net(x)
    # Measured, not left at the defaults (mean 0, var 1): the conv bias of 3 shows in the mean.
    assert torch.allclose(net[1].running_mean, torch.full((8,), 3.0), atol=0.5)
    assert torch.allclose(h.mean((0, 2, 3)), torch.zeros(8), atol=0.1)
    assert torch.allclose(h.std((0, 2, 3)), torch.ones(8), atol=0.1)
    # The second BatchNorm was measured after the first was calibrated.
    assert torch.allclose(y.mean((0, 2, 3)), torch.zeros(8), atol=0.1)
    assert torch.allclose(y.std((0, 2, 3)), torch.ones(8), atol=0.1)


def test_registry_lists_the_standard_models():
    for name in STANDARD:
        entry = REGISTRY[name]
        assert entry.calibrate_batchnorm
        assert set(entry.defaults) == {"width", "num_classes", "resolution", "batch"}
    assert not REGISTRY["mobilenet_v1"].calibrate_batchnorm  # its random weights stay as they were


def test_inspect_cli_reports_resnet18():
    p = subprocess.run([sys.executable, "-m", "spiree", "inspect", "resnet18"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert "1814.1M multiply-adds, 11,689,512 parameters (BatchNorm included)" in p.stdout
    assert re.search(r"^layer1\.0\.conv1\.0 +conv 3x3 +64x64x3x3 +1x64x56x56 +115\.61M", p.stdout, re.M)
    assert re.search(r"^stem\.0 +conv 7x7/2 +64x3x7x7 ", p.stdout, re.M)
