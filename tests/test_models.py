"""Model zoo and model loading: published MobileNet-v1 figures, registry, .pt2, factories."""
import pytest
import torch

from spiree.models.registry import ModelError, load_model, parse_model_source
from spiree.pipeline.inspect import layer_table, parameter_count


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
    with pytest.raises(ModelError, match=r"unknown model 'mobilenet_v9': use one of mobilenet_v1, tiny_cnn, tiny_resnet"):
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
