"""The Table 2 baselines (SRCNN, VDSR, LapSRN, MemNet): shapes, gradients, determinism, published sizes and
the outputs their published losses supervise. Small option values keep every test fast."""

from __future__ import annotations

import pytest
import torch

from srlib.core.imresize import imresize
from srlib.models import TrainingTerm, build_model, published_loss, training_outputs

SMALL = {
    "srcnn": {"channels": (16, 8)},
    "vdsr": {"depth": 4, "channels": 8},
    "lapsrn": {"depth": 2, "channels": 8},
    "memnet": {"n_memory": 2, "n_recursions": 2, "channels": 8},
}
BASELINES = sorted(SMALL)
SCALES = (2, 3, 4)


def small(name: str, scale: int, **options: object) -> torch.nn.Module:
    return build_model(name, scale, **{**SMALL[name], **options})


@pytest.mark.parametrize("name", BASELINES)
@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("hw", [(8, 8), (7, 11), (13, 5)])
def test_output_shape(name: str, scale: int, hw: tuple[int, int]) -> None:
    model = small(name, scale)
    assert model.scale == scale and model.in_channels == 1
    out = model(torch.rand(2, 1, *hw))
    assert out.shape == (2, 1, hw[0] * scale, hw[1] * scale)
    assert out.dtype == torch.float32


@pytest.mark.parametrize("name", BASELINES)
def test_rgb_option(name: str) -> None:
    model = small(name, 3, in_channels=3)
    assert model.in_channels == 3
    assert model(torch.rand(1, 3, 5, 6)).shape == (1, 3, 15, 18)


@pytest.mark.parametrize("name", BASELINES)
@pytest.mark.parametrize("scale", SCALES)
def test_gradients_reach_every_parameter(name: str, scale: int) -> None:
    torch.manual_seed(0)
    model = small(name, scale).train()
    lr = torch.rand(2, 1, 6, 7)
    loss = sum(t.weight * t.output.square().mean() for t in training_outputs(model, lr))
    loss.backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, pname
        assert torch.isfinite(p.grad).all(), pname
        assert p.grad.abs().sum() > 0, pname


@pytest.mark.parametrize("name", BASELINES)
def test_seeded_construction_is_deterministic(name: str) -> None:
    def state(seed: int) -> dict[str, torch.Tensor]:
        torch.manual_seed(seed)
        return small(name, 2).state_dict()

    a, b, c = state(0), state(0), state(1)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a if a[k].is_floating_point() and a[k].numel() > 1)


@pytest.mark.parametrize("name", BASELINES)
@pytest.mark.parametrize("value", [0.0, 1.0])
def test_constant_image_gives_finite_output(name: str, value: float) -> None:
    torch.manual_seed(0)
    model = small(name, 2).train()  # train mode: BN uses the batch statistics of a constant image
    out = model(torch.full((2, 1, 6, 6), value))
    assert torch.isfinite(out).all()
    model.eval()
    assert torch.isfinite(model(torch.full((1, 1, 6, 6), value))).all()


def test_published_parameter_counts() -> None:
    """Paper-size defaults reproduce the published sizes (SRCNN 9-5-5 57,184 weights + 97 biases, 9-1-5
    8,129; VDSR 665k; LapSRN x4 ~812k; MemNet M6R6 677k conv parameters + its BN affines and 6 output
    weights)."""
    count = {
        (n, s): sum(p.numel() for p in build_model(n, s).parameters())
        for n, s in [("srcnn", 2), ("vdsr", 2), ("lapsrn", 2), ("lapsrn", 4), ("memnet", 2)]
    }
    assert count[("srcnn", 2)] == 9 * 9 * 64 + 5 * 5 * 64 * 32 + 5 * 5 * 32 + 64 + 32 + 1 == 57_281  # 9-5-5
    assert count[("vdsr", 2)] == 665_921
    assert count[("lapsrn", 2)] == 407_441
    assert count[("lapsrn", 4)] == 814_242
    conv = 640 + 6 * 2 * 36_928 + sum((m + 6) * 64 * 64 + 64 for m in range(1, 7)) + 577
    bn = 2 * (1 + 6 * 12 * 64 + sum((m + 6) * 64 for m in range(1, 7)) + 6 * 64)
    assert count[("memnet", 2)] == conv + bn + 6 == 695_497
    nine_one_five = build_model("srcnn", 2, kernel_sizes=(9, 1, 5))
    assert sum(p.numel() for p in nine_one_five.parameters()) == 81 * 64 + 64 * 32 + 25 * 32 + 97 == 8_129


def test_published_losses() -> None:
    assert published_loss(small("srcnn", 2)) == "mse"
    assert published_loss(small("vdsr", 2)) == "mse"
    assert published_loss(small("lapsrn", 2)) == "charbonnier"
    assert published_loss(small("memnet", 2)) == "mse"


@pytest.mark.parametrize(("scale", "levels"), [(2, 1), (3, 2), (4, 2)])
def test_lapsrn_pyramid_and_deep_supervision(scale: int, levels: int) -> None:
    model = small("lapsrn", scale).eval()
    lr = torch.rand(1, 1, 6, 5)
    pyramid = model.pyramid(lr)
    assert model.levels == levels == len(pyramid)
    assert [p.shape[-2:] for p in pyramid] == [(6 * 2**i, 5 * 2**i) for i in range(1, levels + 1)]
    terms = model.training_outputs(lr)
    assert all(isinstance(t, TrainingTerm) and t.weight == 1.0 for t in terms)
    assert [t.scale for t in terms] == [float(2**i) for i in range(1, levels)] + [float(scale)]
    for t in terms:
        assert t.output.shape[-2:] == (round(6 * t.scale), round(5 * t.scale))
    torch.testing.assert_close(terms[-1].output, model(lr))
    if scale == 3:  # x4 pyramid, then MATLAB bicubic down by 3/4
        torch.testing.assert_close(model(lr), imresize(pyramid[-1], scale=0.75))


def test_lapsrn_image_branch_starts_bilinear() -> None:
    """With the residuals switched off the untrained x2 network is bilinear upsampling: a constant image
    stays constant away from the border."""
    model = small("lapsrn", 2).eval()
    with torch.no_grad():
        for conv in model.residuals:
            conv.weight.zero_()
            conv.bias.zero_()
        out = model(torch.full((1, 1, 6, 6), 0.3))
    torch.testing.assert_close(out[..., 1:-1, 1:-1], torch.full_like(out[..., 1:-1, 1:-1], 0.3))


@pytest.mark.parametrize("kernel", [3, 4])
def test_lapsrn_upsample_kernel_option(kernel: int) -> None:
    model = small("lapsrn", 4, upsample_kernel=kernel)
    assert model(torch.rand(1, 1, 5, 7)).shape == (1, 1, 20, 28)


def test_memnet_multi_supervision_and_shared_weights() -> None:
    torch.manual_seed(0)
    model = small("memnet", 2, n_memory=3, n_recursions=4).eval()
    lr = torch.rand(1, 1, 6, 6)
    terms = model.training_outputs(lr)
    assert len(terms) == 1 + 3 and all(t.scale == 2.0 and t.weight == 1.0 for t in terms)
    torch.testing.assert_close(terms[0].output, model(lr))
    ys = model.block_outputs(lr)
    expected = sum(w * y for w, y in zip(model.output_weights, ys, strict=True))
    torch.testing.assert_close(model(lr), expected)
    torch.testing.assert_close(model.output_weights.detach(), torch.full((3,), 1 / 3))
    # one pair of residual convs per memory block, shared by its 4 recursions; one ReconNet conv in all
    convs = [n for n, _ in model.named_parameters() if n.endswith("weight") and "conv" in n]
    assert sum("blocks.0.conv_" in n for n in convs) == 2
    assert sum(n.startswith("recon_conv") for n in convs) == 1


def test_memnet_without_batch_norm() -> None:
    model = small("memnet", 2, batch_norm=False)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    assert model(torch.rand(1, 1, 5, 5)).shape == (1, 1, 10, 10)


def _measured_radius(model: torch.nn.Module, size: int) -> float:
    """The farthest LR pixel (from the output pixel's LR position) that the centre output pixel depends on."""
    x = torch.rand(1, model.in_channels, size, size, requires_grad=True)
    y = model(x)
    c = y.shape[-1] // 2
    y[0, 0, c, c].backward()
    dependent = torch.nonzero(x.grad[0].abs().sum(0) > 0).float()
    return (dependent - ((c + 0.5) / model.scale - 0.5)).abs().max().item()


@pytest.mark.parametrize("name", BASELINES)
@pytest.mark.parametrize("scale", SCALES)
def test_receptive_radius_bounds_the_dependence(name: str, scale: int) -> None:
    torch.manual_seed(0)
    model = small(name, scale).eval()
    radius = model.receptive_radius
    measured = _measured_radius(model, 2 * radius + 10)
    assert measured <= radius
    assert measured > radius - 3  # and is not wildly conservative


@pytest.mark.parametrize(
    ("name", "options", "expected"),
    [
        ("srcnn", {}, {2: 6, 3: 5, 4: 4}),  # 9-5-5
        ("srcnn", {"kernel_sizes": (9, 1, 5)}, {2: 5, 3: 4, 4: 4}),
        ("vdsr", {}, {2: 12, 3: 9, 4: 7}),
        ("lapsrn", {}, {2: 13, 3: 20, 4: 19}),
        ("memnet", {"channels": 4}, {2: 39, 3: 27, 4: 21}),
    ],
)
def test_receptive_radius_of_published_sizes(name: str, options: dict, expected: dict[int, int]) -> None:
    assert {s: build_model(name, s, **options).receptive_radius for s in SCALES} == expected


def test_memnet_recon_init_gain_scales_only_the_reconnet_init() -> None:
    torch.manual_seed(0)
    published = build_model("memnet", 2, n_memory=2, n_recursions=1, channels=8)
    torch.manual_seed(0)
    damped = build_model("memnet", 2, n_memory=2, n_recursions=1, channels=8, recon_init_gain=0.01)
    assert torch.allclose(damped.recon_conv.weight, 0.01 * published.recon_conv.weight)
    assert torch.equal(damped.fenet_conv.weight, published.fenet_conv.weight)
    lr = torch.rand(1, 1, 12, 12)
    bicubic = damped.upsample(lr)
    with torch.no_grad():
        assert (damped(lr) - bicubic).std() < 0.05 * (published(lr) - bicubic).std()
