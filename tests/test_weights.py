"""Weights + model card: round trip, weights_only loading, card checks with clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from srlib.models import build_model
from srlib.weights import WeightsError, load_model, read_card, save_weights


@pytest.fixture()
def saved(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    net = build_model("vdsr", 2, depth=3, channels=8)
    path = tmp_path / "vdsr_x2.pt"
    save_weights(
        net,
        path,
        {
            "model": "vdsr",
            "options": {"depth": 3, "channels": 8},
            "scale": 2,
            "profile": "smoke",
            "final_metrics": {"psnr": 30.0},
        },
    )
    return path


def test_round_trip(saved: Path) -> None:
    torch.manual_seed(0)
    ref = build_model("vdsr", 2, depth=3, channels=8)
    net = load_model(saved, model="vdsr", scale=2)
    assert not net.training
    for k, v in ref.state_dict().items():
        assert torch.equal(v, net.state_dict()[k])
    card = read_card(saved)
    assert card["format"] == "srlib-model-card/1" and card["weights_file"] == "vdsr_x2.pt"
    assert card["parameters"] == sum(p.numel() for p in ref.parameters())
    assert card["torch_version"] == torch.__version__ and len(card["weights_sha256"]) == 64
    # the card itself may be given instead of the .pt
    assert isinstance(load_model(saved.with_suffix(".json")), torch.nn.Module)


def test_state_dict_loads_with_weights_only(saved: Path) -> None:
    state = torch.load(saved, weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())


def test_mismatches_are_refused(saved: Path) -> None:
    with pytest.raises(WeightsError, match="trained for x2, but x4 was requested"):
        load_model(saved, scale=4)
    with pytest.raises(WeightsError, match=r"holds a 'vdsr' model.*'mlrn' was requested"):
        load_model(saved, model="mlrn")


def test_changed_file_or_card_is_refused(saved: Path) -> None:
    card_path = saved.with_suffix(".json")
    card = json.loads(card_path.read_text())
    card["options"]["channels"] = 16
    card_path.write_text(json.dumps(card))
    with pytest.raises(WeightsError, match="does not fit vdsr"):
        load_model(saved)
    saved.write_bytes(saved.read_bytes() + b"\0")
    with pytest.raises(WeightsError, match="sha256"):
        load_model(saved)


def test_missing_card(tmp_path: Path) -> None:
    torch.save({}, tmp_path / "w.pt")
    with pytest.raises(WeightsError, match="no model card"):
        load_model(tmp_path / "w.pt")


def test_no_pickled_code_is_executed(tmp_path: Path, saved: Path) -> None:
    """A .pt holding an arbitrary object (what a malicious file would carry) is refused by weights_only."""

    import argparse

    torch.save({"x": argparse.Namespace(payload="any picklable object")}, saved)
    card_path = saved.with_suffix(".json")
    card = json.loads(card_path.read_text())
    card.pop("weights_sha256")
    card_path.write_text(json.dumps(card))
    with pytest.raises(Exception, match=r"[Ww]eights only load failed|Unsupported global"):
        load_model(saved)


def test_evaluate_command_with_weights(tmp_path: Path, saved: Path) -> None:
    """`srlib evaluate --weights W.pt` scores the trained model at the card's scale."""
    import argparse

    import pandas as pd

    from srlib.commands import evaluate as cmd
    from srlib.core.errors import UsageError
    from srlib.data import demo

    demo.materialize(tmp_path / "data")
    parser = argparse.ArgumentParser()
    cmd.add_arguments(parser)
    out = tmp_path / "ev.csv"
    args = parser.parse_args(
        [
            "--weights",
            str(saved),
            "--sets",
            "Demo",
            "--data-dir",
            str(tmp_path / "data"),
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert cmd.run(args) == 0
    rows = pd.read_csv(out)
    assert set(rows["scale"]) == {2} and set(rows["model"]) == {"vdsr"} and len(rows) == len(demo.images())
    args = parser.parse_args(["--weights", str(saved), "--scales", "3", "--sets", "Demo", "--out", str(out)])
    with pytest.raises(UsageError, match=r"no --weights for scale\(s\) \[3\]"):
        cmd.run(args)
