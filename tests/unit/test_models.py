"""Model zoo: shapes, parameter counts against closed forms and the published sizes, seeded init."""

import math

import pytest
import torch
from torch import nn

from snntopo.errors import InvalidValueError, UnknownNameError
from snntopo.models import MODELS, build_model, count_parameters, init_model, prunable_parameters

STUDY_MODELS = ["conv6", "resnet20", "resnet32", "wrn28_2", "mobilenetv2"]


def resnet_params(depth: int, in_ch: int = 3, classes: int = 10) -> int:
    """Closed form for the option-B CIFAR ResNet: 3×3 convs without bias, BN (2 params/channel)."""
    n = (depth - 2) // 6
    total = in_ch * 16 * 9 + 2 * 16
    c_in = 16
    for stage, width in enumerate((16, 32, 64)):
        for block in range(n):
            total += c_in * width * 9 + width * width * 9 + 4 * width
            if stage > 0 and block == 0:  # 1×1 shortcut + BN where the shape changes
                total += c_in * width + 2 * width
            c_in = width
    return total + 64 * classes + classes


def wrn_params(depth: int = 28, k: int = 2, in_ch: int = 3, classes: int = 10) -> int:
    n = (depth - 4) // 6
    widths = [16, 16 * k, 32 * k, 64 * k]
    total, c_in = in_ch * 16 * 9, 16
    for width in widths[1:]:
        for _ in range(n):
            total += 2 * c_in + c_in * width * 9 + 2 * width + width * width * 9
            if c_in != width:
                total += c_in * width
            c_in = width
    return total + 2 * c_in + c_in * classes + classes


@pytest.mark.parametrize(
    ("name", "expected", "published"),
    [
        ("resnet20", resnet_params(20), 0.27e6),
        ("resnet32", resnet_params(32), 0.46e6),
        ("wrn28_2", wrn_params(), 1.47e6),
    ],
)
def test_parameter_counts_match_closed_form_and_publication(name, expected, published):
    model = build_model(name, (3, 32, 32), 10)
    assert count_parameters(model) == expected
    assert count_parameters(model) == pytest.approx(published, rel=0.02)


def test_conv6_parameter_count_closed_form():
    convs = [(3, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256)]
    conv = sum(a * b * 9 + b + 2 * b for a, b in convs)  # weights + bias + BN
    fc = (4096 * 256 + 256 + 512) + (256 * 256 + 256 + 512) + (256 * 10 + 10)
    assert count_parameters(build_model("conv6", (3, 32, 32), 10)) == conv + fc


@pytest.mark.parametrize("name", [*STUDY_MODELS, "mlp", "cnn"])
@pytest.mark.parametrize("shape", [(3, 32, 32), (1, 8, 8)])
def test_forward_shapes(name, shape):
    model = build_model(name, shape, 7).eval()
    out = model(torch.randn(2, *shape))
    assert out.shape == (2, 7)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize(
    ("name", "layers"), [("conv6", 9), ("resnet20", 22), ("resnet32", 34), ("wrn28_2", 29)]
)
def test_prunable_layer_counts_match_published_tables(name, layers):
    # docs/method/analyses.md#published-tables: layers per network in the released per-layer CSVs (shortcut
    # convs included).
    params = prunable_parameters(build_model(name, (3, 32, 32), 10))
    assert len(params) == layers
    assert all(name.endswith(".weight") for name in params)


def test_prunable_parameters_are_conv_and_linear_weights_in_module_order():
    model = build_model("cnn", (1, 8, 8), 10)
    names = list(prunable_parameters(model))
    assert names == ["conv1.weight", "conv2.weight", "conv3.weight", "shortcut.0.weight", "linear.weight"]


def test_same_seed_same_weights_different_seed_different():
    a, b, c = (init_model("resnet20", (3, 32, 32), 10, seed=s) for s in (0, 0, 1))
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(pa, pb), name
    assert not torch.equal(a.conv1.weight, c.conv1.weight)


def test_init_model_leaves_global_rng_untouched():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    init_model("mlp", (1, 8, 8), 10, seed=5)
    assert torch.equal(torch.rand(3), expected)


def test_kaiming_normal_fan_in_statistics_and_zero_biases():
    model = init_model("conv6", (3, 32, 32), 10, seed=0)
    conv = model.features[3]  # 64→64, 3×3: fan_in = 576
    assert isinstance(conv, nn.Conv2d)
    assert conv.weight.std().item() == pytest.approx(math.sqrt(2 / 576), rel=0.05)
    assert conv.weight.mean().item() == pytest.approx(0.0, abs=0.005)
    assert torch.count_nonzero(conv.bias) == 0


def test_unknown_model_lists_known_names():
    with pytest.raises(UnknownNameError) as err:
        build_model("resnet21", (3, 32, 32), 10)
    message = str(err.value)
    assert "resnet21" in message
    assert all(name in message for name in MODELS.names())


@pytest.mark.parametrize(("name", "shape"), [("conv6", (3, 4, 4)), ("mlp", (3, 0, 4))])
def test_too_small_input_is_refused_with_the_model_named(name, shape):
    with pytest.raises((InvalidValueError, ValueError)) as err:
        build_model(name, shape, 10)
    assert name in str(err.value) or "8×8" in str(err.value) or "input_shape" in str(err.value)


def test_init_file_round_trip_and_tamper_detection(tmp_path):
    from snntopo.errors import CheckpointError
    from snntopo.models import load_init, save_init

    path = tmp_path / "init.pt"
    saved = save_init(path, "cnn", (1, 8, 8), 10, seed=4)
    loaded, info = load_init(path)
    assert info["model"] == "cnn" and info["seed"] == 4 and info["input_shape"] == [1, 8, 8]
    assert all(torch.equal(a, b) for a, b in zip(saved.state_dict().values(), loaded.state_dict().values(),
                                                 strict=True))  # fmt: skip
    payload = torch.load(path, weights_only=True)
    payload["state_dict"]["conv1.weight"][0, 0, 0, 0] += 1.0
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="checksum"):
        load_init(path)
    path.write_bytes(b"not a torch file")
    with pytest.raises(CheckpointError, match=r"init\.pt"):
        load_init(path)
