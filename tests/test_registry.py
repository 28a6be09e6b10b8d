"""The model registry: every model builds by name with its defaults; unknown names, options, scales and
channel counts give clear errors; the training contract's fallbacks."""

from __future__ import annotations

import pytest
import torch

from srlib.models import (
    TrainingTerm,
    build_model,
    model_names,
    model_options,
    published_loss,
    training_outputs,
)

BASELINES = ("srcnn", "vdsr", "lapsrn", "memnet")


def test_every_table2_model_is_registered() -> None:
    from srlib.core.paper import TABLE2_MODELS

    assert set(TABLE2_MODELS) <= set(model_names())


@pytest.mark.parametrize("name", ["bicubic", *BASELINES])
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_build_with_defaults(name: str, scale: int) -> None:
    model = build_model(name, scale)
    assert model.scale == scale
    assert model.in_channels in (1, 3)


def test_names_are_case_insensitive() -> None:
    assert type(build_model("VDSR", 2, depth=3)) is type(build_model("vdsr", 2, depth=3))


def test_unknown_model_lists_valid_names() -> None:
    with pytest.raises(ValueError, match="unknown model 'edsr'") as info:
        build_model("edsr", 2)
    for name in model_names():
        assert name in str(info.value)


@pytest.mark.parametrize("name", BASELINES)
def test_unknown_option_lists_valid_options(name: str) -> None:
    with pytest.raises(ValueError, match="unknown option") as info:
        build_model(name, 2, n_layers=3)
    message = str(info.value)
    assert "n_layers" in message
    for option in model_options(name):
        assert f"{option}=" in message


def test_options_expose_published_defaults() -> None:
    assert model_options("srcnn") == {
        "in_channels": 1,
        "kernel_sizes": (9, 5, 5),
        "channels": (64, 32),
        "padding_mode": "zeros",
    }
    assert model_options("vdsr") == {"in_channels": 1, "depth": 20, "channels": 64}
    assert model_options("lapsrn") == {
        "in_channels": 1,
        "depth": 10,
        "channels": 64,
        "upsample_kernel": 3,
        "negative_slope": 0.2,
    }
    assert model_options("memnet") == {
        "in_channels": 1,
        "n_memory": 6,
        "n_recursions": 6,
        "channels": 64,
        "batch_norm": True,
        "recon_init_gain": 1.0,
    }


@pytest.mark.parametrize("name", BASELINES)
@pytest.mark.parametrize("scale", [1, 0, 2.5, True, "2"])
def test_bad_scale(name: str, scale: object) -> None:
    with pytest.raises(ValueError, match=f"{name}: scale must be an integer >= 2"):
        build_model(name, scale)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", BASELINES)
def test_bad_in_channels(name: str) -> None:
    with pytest.raises(ValueError, match=f"{name}: in_channels must be 1"):
        build_model(name, 2, in_channels=2)


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("srcnn", {"kernel_sizes": (9, 2, 5)}),
        ("srcnn", {"channels": (64,)}),
        ("srcnn", {"padding_mode": "reflect"}),
        ("vdsr", {"depth": 1}),
        ("lapsrn", {"depth": 0}),
        ("lapsrn", {"upsample_kernel": 1}),
        ("memnet", {"n_memory": 0}),
    ],
)
def test_bad_sizes(name: str, options: dict) -> None:
    with pytest.raises(ValueError, match=name):
        build_model(name, 2, **options)


def test_json_lists_work_as_sequences() -> None:
    """Profiles are JSON, so tuple options arrive as lists."""
    model = build_model("srcnn", 2, kernel_sizes=[9, 5, 5], channels=[16, 8])
    assert [c.kernel_size[0] for c in model.convs] == [9, 5, 5]


def test_training_contract_fallbacks() -> None:
    model = build_model("bicubic", 2)
    lr = torch.rand(1, 3, 4, 5)
    (term,) = training_outputs(model, lr)
    assert isinstance(term, TrainingTerm) and term.scale == 2.0 and term.weight == 1.0
    torch.testing.assert_close(term.output, model(lr))
    assert published_loss(model) == "l1"
