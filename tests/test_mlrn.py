"""MLRN: shapes, ablation variants, gradients, determinism, degenerate inputs, options, registry."""

from __future__ import annotations

import itertools

import pytest
import torch

from srlib.models import build_model, model_options
from srlib.models.common import DIV2K_RGB_MEAN, y_of_rgb_mean
from srlib.models.mlrn import MLRN
from srlib.models.nonlocal_attention import RegionNonLocal

SMALL = {"channels": 8, "n_blocks": 1, "n_units": 1, "sf_depth": 2, "reduction": 4, "nl_region": 4}

# Table 1's four variants: (non_local, second_order, multi_scale).
TABLE1 = {
    "NL": (True, False, False),
    "SO": (False, True, False),
    "MS": (False, False, True),
    "all": (True, True, True),
}


def _model(scale: int = 2, seed: int = 0, **options: object) -> MLRN:
    torch.manual_seed(seed)
    return MLRN(scale, **{**SMALL, **options})


def _perturb_wz(model: MLRN, seed: int = 0) -> MLRN:
    """W_z of every NL block starts at zero; random values stand in for trained ones."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, RegionNonLocal):
                module.out.weight.copy_(torch.randn(module.out.weight.shape, generator=gen) * 0.3)
    return model


def _variant(flags: tuple[bool, bool, bool]) -> MLRN:
    non_local, second_order, multi_scale = flags
    return _model(non_local=non_local, second_order=second_order, multi_scale=multi_scale)


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize(("h", "w"), [(12, 12), (7, 9), (5, 3)])
def test_output_shape(scale: int, h: int, w: int) -> None:
    model = _model(scale)
    out = model(torch.rand(2, 3, h, w))
    assert out.shape == (2, 3, h * scale, w * scale)
    assert model.scale == scale and model.in_channels == 3


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_y_only_model(scale: int) -> None:
    model = _model(scale, in_channels=1)
    assert model.in_channels == 1
    assert model(torch.rand(1, 1, 9, 11)).shape == (1, 1, 9 * scale, 11 * scale)


def test_ablation_variants_differ_in_parameters_and_output() -> None:
    x = torch.rand(1, 3, 10, 10)
    models = {name: _variant(flags) for name, flags in TABLE1.items()}
    counts = {name: sum(p.numel() for p in m.parameters()) for name, m in models.items()}
    outputs = {name: m(x) for name, m in models.items()}
    assert len(set(counts.values())) == len(TABLE1), counts
    assert counts["all"] == max(counts.values())
    for a, b in itertools.combinations(TABLE1, 2):
        assert (outputs[a] - outputs[b]).abs().max() > 1e-4, (a, b)


def test_disabled_branches_are_absent() -> None:
    names = {n for n, _ in _variant(TABLE1["MS"]).named_modules()}
    assert not any(n.endswith((".nl.theta", ".so.down")) for n in names)
    single = _variant(TABLE1["NL"]).body[0][0]
    assert [b[0].kernel_size for b in single.branches] == [(3, 3)]
    multi = _variant(TABLE1["all"]).body[0][0]
    assert [b[0].kernel_size for b in multi.branches] == [(1, 1), (3, 3), (5, 5)]


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"fusion": "sequential", "act": "prelu", "n_units": 2},
        {"act": "leaky_relu", "image_skip": True, "upsampler": "single"},
    ],
)
def test_gradients_reach_every_parameter(options: dict[str, object]) -> None:
    model = _perturb_wz(_model(4 if options.get("upsampler") == "single" else 2, **options))
    x = torch.rand(2, 3, 9, 8, requires_grad=True)
    model(x).square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert not missing
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_seeded_construction_is_deterministic() -> None:
    a, b, c = _model(seed=5), _model(seed=5), _model(seed=6)
    x = torch.rand(1, 3, 8, 8)
    for (na, pa), (nb, pb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert na == nb and torch.equal(pa, pb)
    assert torch.equal(a(x), b(x))
    assert not torch.equal(a(x), c(x))


@pytest.mark.parametrize("value", [0.0, 0.5])
def test_constant_image_is_finite(value: float) -> None:
    model = _model()
    x = torch.full((1, 3, 8, 8), value, requires_grad=True)
    out = model(x)
    out.mean().backward()
    assert torch.isfinite(out).all() and torch.isfinite(x.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


def test_mean_shift_uses_div2k_mean() -> None:
    rgb = _model()
    assert torch.allclose(rgb.sub_mean.shift.flatten(), -torch.tensor(DIV2K_RGB_MEAN))
    assert torch.allclose(rgb.add_mean.shift.flatten(), torch.tensor(DIV2K_RGB_MEAN))
    y = _model(in_channels=1)
    assert y.add_mean.shift.flatten().tolist() == pytest.approx([y_of_rgb_mean()])
    assert y_of_rgb_mean((0.0, 0.0, 0.0)) == pytest.approx(16 / 255)
    assert y_of_rgb_mean((1.0, 1.0, 1.0)) == pytest.approx(235 / 255)


def test_bf16_autocast_forward() -> None:
    model = _model().eval()
    x = torch.rand(1, 3, 10, 10)
    with torch.no_grad():
        reference = model(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model(x)
    assert torch.isfinite(out).all()
    assert (out.float() - reference).abs().max() < 0.1


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"scale": 5}, "scales"),
        ({"in_channels": 2}, "in_channels"),
        ({"channels": 0}, "channels"),
        ({"n_units": 1.5}, "n_units"),
        ({"act": "gelu"}, "act"),
        ({"fusion": "sum"}, "fusion"),
        ({"upsampler": "deconv"}, "upsampler"),
        ({"channels": 8, "reduction": 16}, "reduction"),
    ],
)
def test_bad_options_raise(options: dict[str, object], message: str) -> None:
    scale = options.pop("scale", 2)
    with pytest.raises(ValueError, match=message):
        MLRN(scale, **{**SMALL, **options})


def test_wrong_input_channels_raise() -> None:
    with pytest.raises(ValueError, match="N x 3 x H x W"):
        _model()(torch.rand(1, 1, 8, 8))


def test_paper_size_defaults() -> None:
    """The defaults documented in docs/paper-notes.md (parameter counts quoted there) and a forward pass."""
    counts = {}
    for scale in (2, 3, 4):
        torch.manual_seed(0)
        model = MLRN(scale)
        counts[scale] = sum(p.numel() for p in model.parameters())
    assert counts == {2: 1_273_967, 3: 1_458_607, 4: 1_421_679}
    assert len(model.body) == 3 and len(model.body[0][2].units) == 1
    with torch.no_grad():
        assert model(torch.rand(1, 3, 11, 13)).shape == (1, 3, 44, 52)


def test_registry_builds_mlrn_with_keyword_options() -> None:
    options = model_options("mlrn")
    for key in ("non_local", "second_order", "multi_scale", "in_channels", "channels", "n_blocks", "n_units"):
        assert key in options
    model = build_model("mlrn", 3, **SMALL, non_local=False)
    assert isinstance(model, MLRN) and model.scale == 3
    with pytest.raises(ValueError, match="unknown option"):
        build_model("mlrn", 2, depth=3)


@pytest.mark.parametrize("profile", ["smoke", "quick", "paper"])
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_every_profile_trains_on_regions_of_at_least_8x8(profile: str, scale: int) -> None:
    """The NL regions of a training patch are >= 8 x 8 LR pixels (a 1-pixel region has nothing to attend
    over), and a test image gets regions of the same rule."""
    from srlib.models.nonlocal_attention import region_sizes
    from srlib.train.config import resolve_config

    config = resolve_config("mlrn", scale, profile)
    region = config["model_options"].get("nl_region", model_options("mlrn")["nl_region"])
    assert "nl_grid" not in config["model_options"]
    assert min(region_sizes(config["hr_patch"] // scale, region)) >= 8


def test_legacy_grid_option_and_bad_region() -> None:
    """`nl_grid` rebuilds checkpoints made before `nl_region` (same parameters, fixed number of regions)."""
    legacy = _model(nl_grid=2)
    assert all(m.grid == 2 for m in legacy.modules() if isinstance(m, RegionNonLocal))
    assert sum(p.numel() for p in legacy.parameters()) == sum(p.numel() for p in _model().parameters())
    for bad in ({"nl_region": 0}, {"nl_grid": 0}):
        with pytest.raises(ValueError, match="nl_"):
            _model(**bad)


def test_quick_captions_state_the_region_size() -> None:
    """Table captions print a profile's reductions: the quick ones name MLRN's non-local region size."""
    from srlib.train.config import reductions

    lines = reductions("quick", ["mlrn"])
    assert any("regions of 8x8 LR pixels" in line for line in lines)
    assert any("nl_region 8" in line for line in lines)
