"""Parameter and multiply-add counts (srlib.models.complexity) against hand counts, and the table
(srlib.reports.models_table) and its CLI."""

from __future__ import annotations

import argparse

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from srlib.core.coverage import CoverageError
from srlib.models import build_model
from srlib.models.complexity import count_macs, count_parameters, lr_size, macs_by_op
from srlib.reports.models_table import complexity_table, variants, wide_markdown, write_models_table


class _Wrap(nn.Module):
    """A bare layer behind the model interface (scale 1)."""

    scale = 1

    def __init__(self, layer: nn.Module, in_channels: int) -> None:
        super().__init__()
        self.layer = layer
        self.in_channels = in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


def test_single_conv_hand_count() -> None:
    conv = _Wrap(nn.Conv2d(3, 8, 5, padding=2), 3)
    assert count_macs(conv, (10, 12)) == 10 * 12 * 8 * 3 * 5 * 5
    assert count_macs(conv, (10, 12), batch=2) == 2 * 10 * 12 * 8 * 3 * 5 * 5
    strided = _Wrap(nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2), 4)
    assert count_macs(strided, (10, 12)) == 5 * 6 * 6 * (4 // 2) * 3 * 3


def test_transposed_conv_and_linear_hand_count() -> None:
    convt = _Wrap(nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1), 8)
    assert count_macs(convt, (5, 7)) == 5 * 7 * 8 * 4 * 4 * 4  # every input pixel times the kernel
    linear = _Wrap(nn.Linear(7, 5), 3)
    assert count_macs(linear, (4, 7)) == 3 * 4 * 7 * 5


class _Attention(nn.Module):
    """Self-attention over the pixels of each image through scaled_dot_product_attention."""

    scale = 1
    in_channels = 6

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        tokens = x.flatten(2).transpose(1, 2).contiguous()  # b x (h w) x c
        return F.scaled_dot_product_attention(tokens, tokens, tokens).transpose(1, 2).reshape(b, c, h, w)


def test_attention_hand_count() -> None:
    """QK^T and AV: 2 x L^2 x C per image -- counted although torch 2.13 has no formula for the CPU kernel."""
    h, w, c = 5, 6, 6
    assert count_macs(_Attention(), (h, w), batch=2) == 2 * 2 * (h * w) ** 2 * c


def test_matmul_counted() -> None:
    class Gram(nn.Module):
        scale, in_channels = 1, 4

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            f = x.flatten(2)
            return f @ f.transpose(1, 2)

    assert count_macs(Gram(), (3, 5)) == 4 * 4 * 15


def test_srcnn_and_vdsr_hand_counts() -> None:
    srcnn = build_model("srcnn", 2)
    assert count_macs(srcnn, (8, 9)) == 16 * 18 * (81 * 64 + 25 * 64 * 32 + 25 * 32)
    vdsr = build_model("vdsr", 3, depth=4, channels=8)
    assert count_macs(vdsr, (5, 4)) == 15 * 12 * 9 * (8 + 8 * 8 * 2 + 8)
    assert macs_by_op(vdsr, (5, 4)).keys() == {"convolution"}  # the bicubic resize is not counted


def test_memnet_counts_every_recursion() -> None:
    """Shared weights are parameters once but multiply at every use."""
    c, r = 4, 3
    model = build_model("memnet", 2, n_memory=1, n_recursions=r, channels=c)
    hr = 6 * 8
    expected = hr * (9 * c + r * 2 * 9 * c * c + (1 + r) * c * c + 9 * c)
    assert count_macs(model, (3, 4)) == expected
    conv_params = 9 * c + c + 2 * (9 * c * c + c) + (1 + r) * c * c + c + 9 * c + 1
    bn_params = 2 * (1 + 2 * r * c + (1 + r) * c + c)
    assert count_parameters(model) == conv_params + bn_params + 1


def test_count_leaves_model_untouched() -> None:
    model = build_model("vdsr", 2, depth=3, channels=4).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    count_macs(model, (20, 20))
    assert model.training
    assert all(torch.equal(before[k], v) and v.device.type == "cpu" for k, v in model.state_dict().items())
    assert not any(type(p).__name__ == "FakeTensor" for p in model.parameters())


def test_lr_size() -> None:
    assert lr_size((720, 1280), 2) == (360, 640)
    assert lr_size((720, 1280), 3) == (240, 427)
    assert lr_size((720, 1280), 4) == (180, 320)


def test_variants_cover_table1() -> None:
    rows = variants(include_mlrn=True)
    labels = [v for name, v, _ in rows if name == "mlrn" and v]
    assert labels == ["Table 1: NL", "Table 1: SO", "Table 1: MS", "Table 1: NL+SO+MS"]
    assert [n for n, _, _ in variants(include_mlrn=False)] == ["bicubic", "srcnn", "vdsr", "lapsrn", "memnet"]


def test_table_small(tmp_path) -> None:
    options = {"memnet": {"n_memory": 1, "n_recursions": 1, "channels": 4}, "lapsrn": {"depth": 1}}
    table = complexity_table(scales=(2, 3), out_hw=(24, 30), options=options, include_mlrn=False)
    assert len(table) == 5 * 2
    bicubic = table[table.model == "bicubic"]
    assert (bicubic.params == 0).all() and (bicubic.macs == 0).all()
    x3 = table[(table.model == "srcnn") & (table.scale == 3)].iloc[0]
    assert (x3.lr_h, x3.lr_w, x3.out_h, x3.out_w) == (8, 10, 24, 30)
    assert x3.macs == 24 * 30 * (81 * 64 + 25 * 64 * 32 + 25 * 32)
    lap = table[table.model == "lapsrn"].set_index("scale")
    assert lap.loc[3, "params"] > lap.loc[2, "params"]  # x3 runs a two-level (x4) pyramid
    md = wide_markdown(table)
    assert md.count("\n| ") == 5  # one line per model below the header
    assert md.splitlines()[:2] == [
        "| model | variant | params x2 | params x3 | GMACs x2 | GMACs x3 |",
        "|---|---|---:|---:|---:|---:|",
    ]
    assert "| srcnn | default | 57,281 | 57,281 | 0.0 | 0.0 |" in md
    assert "Input -> output sizes (W x H): x2: 15x12 -> 30x24, x3: 10x8 -> 30x24." in md
    csv_path, md_path = write_models_table(
        tmp_path, scales=(2,), out_hw=(12, 16), options=options, include_mlrn=False
    )
    assert len(pd.read_csv(csv_path)) == 5
    assert md_path.read_text().startswith("# Model complexity (16x12 output)\n\n| model |")
    with pytest.raises(ValueError, match="unknown model"):
        write_models_table(tmp_path, options={"edsr": {"channels": 4}})


def test_models_table_of_a_profile(tmp_path) -> None:
    """The library call a notebook makes: the profile's sizes, named in the caption."""
    from srlib.train.config import load_profile

    _, md_path = write_models_table(tmp_path, profile="smoke", scales=(2,), out_hw=(12, 16))
    text = md_path.read_text()
    assert "Model sizes of the training profile `smoke`." in text
    table = pd.read_csv(tmp_path / "models.csv").fillna("")
    channels = load_profile("smoke")["models"]["memnet"]["options"]["channels"]
    assert f"channels={channels}" in table[table.model == "memnet"].options.iloc[0]



def test_models_table_rewrites_itself_but_never_with_less(tmp_path) -> None:
    """A second run over an existing results folder (the pipeline's 04_table2) replaces the table: the
    default variants' empty label reads back as NaN and is not a lost variant. Fewer scales still refuse."""
    write_models_table(tmp_path, profile="smoke", scales=(2, 3), out_hw=(12, 16))
    write_models_table(tmp_path, profile="smoke", scales=(2, 3), out_hw=(12, 16))
    with pytest.raises(CoverageError, match="lacks scale 3"):
        write_models_table(tmp_path, profile="smoke", scales=(2,), out_hw=(12, 16))


@pytest.mark.filterwarnings("ignore")
def test_mlrn_attention_is_counted() -> None:
    """MLRN's attention products are counted (a failure to build or count it is a failure, not a skip)."""
    small = {"channels": 8, "n_blocks": 1, "n_units": 1, "reduction": 4}
    full = build_model("mlrn", 2, **small)
    ops = macs_by_op(full, (16, 16))
    assert ops.get("_scaled_dot_product_flash_attention_for_cpu", 0) + ops.get("bmm", 0) > 0
    conv_only = build_model("mlrn", 2, **small, non_local=False, second_order=False)
    assert count_macs(full, (16, 16)) > count_macs(conv_only, (16, 16))


def test_cli_lists_models_and_writes_table(tmp_path, capsys) -> None:
    from srlib.commands import models as cmd

    parser = argparse.ArgumentParser()
    cmd.add_arguments(parser)
    assert cmd.run(parser.parse_args([])) == 0
    listing = capsys.readouterr().out
    assert "vdsr: in_channels=1, depth=20, channels=64" in listing
    assert "memnet: in_channels=1, n_memory=6, n_recursions=6, channels=64, batch_norm=True" in listing
    args = parser.parse_args(
        ["--table", str(tmp_path), "--scales", "2", "--output-size", "32", "24", "--set", "memnet.channels=4"]
    )
    assert cmd.run(args) == 0
    table = pd.read_csv(tmp_path / "models.csv")
    assert set(table.scale) == {2} and (table.out_w == 32).all()
    assert "channels=4" in table[table.model == "memnet"].options.iloc[0]
    out = tmp_path / "smoke"
    args = parser.parse_args(
        ["--table", str(out), "--scales", "3", "--output-size", "24", "12", "--profile", "smoke"]
    )
    assert cmd.run(args) == 0
    assert "training profile `smoke`" in (out / "models.md").read_text()
    from srlib.cli import main

    capsys.readouterr()
    assert main(["models", "--table", str(tmp_path), "--set", "channels=4"]) == 2
    assert "srlib models: error: --set expects MODEL.OPTION=VALUE" in capsys.readouterr().err
    assert main(["models", "--table", str(tmp_path), "--set", "edsr.channels=4"]) == 2
    assert "unknown model" in capsys.readouterr().err
