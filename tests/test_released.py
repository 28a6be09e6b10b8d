"""`srlib.released`: every released file converts into srlib's own class with strict loading; the layout
conversions are checked on synthetic files; every kind of bad file gets one clear error naming it."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch

from srlib.released import (
    RELEASE_NAMES,
    RELEASES,
    ReleasedWeightsError,
    build,
    file_entry,
    load_released,
    release,
    state_dict,
)

PARAMETERS = {("srcnn", s): 57_281 for s in (2, 3, 4)} | {("srcnn-915", s): 8_129 for s in (2, 3, 4)}
PARAMETERS |= {("vdsr", s): 665_921 for s in (2, 3, 4)} | {("lapsrn", 2): 407_441, ("lapsrn", 3): 814_242}
PARAMETERS |= {("lapsrn", 4): 814_242}


@pytest.mark.data
@pytest.mark.parametrize(("name", "scale"), sorted(PARAMETERS))
def test_every_release_loads_strictly(weights_dir: Path, name: str, scale: int):
    net = load_released(name, scale, weights_dir)
    assert type(net).__name__.lower() == RELEASES[name].model
    assert sum(p.numel() for p in net.parameters()) == PARAMETERS[(name, scale)]
    assert not net.training and net.scale == scale
    out = net(torch.rand(1, 1, 12, 10))
    assert out.shape == (1, 1, 12 * scale, 10 * scale) and torch.isfinite(out).all()


def test_conventions_are_model_options():
    srcnn = build("srcnn", 2)
    assert [c.padding_mode for c in srcnn.convs] == ["replicate"] * 3
    assert [c.kernel_size[0] for c in build("srcnn-915", 3).convs] == [9, 1, 5]
    lapsrn = build("lapsrn", 3)
    assert lapsrn.levels == 2 and lapsrn.resize is not None  # the x4 pyramid, resized to x3


def test_unknown_name_and_scale():
    with pytest.raises(
        ValueError, match=r"unknown released model 'edsr'; valid: srcnn, srcnn-915, vdsr, lapsrn"
    ):
        release("edsr")
    with pytest.raises(ValueError, match=r"released lapsrn has no x8 model; scales: \[2, 3, 4\]"):
        file_entry("lapsrn", 8)
    assert RELEASE_NAMES == ("srcnn", "srcnn-915", "vdsr", "lapsrn")


# ------------------------------------------------------------------------------- layouts, synthetic files


def test_srcnn_layout(tmp_path: Path):
    """conv1 (81, 64) column-major 9x9; conv2 [in, r + 5c, out]; conv3 [in, r + 5c]."""
    w1, w2, w3 = np.zeros((81, 64)), np.zeros((64, 25, 32)), np.zeros((32, 25))
    w1[2 + 9 * 7, 5] = 1.0  # row 2, column 7 of filter 5
    w2[3, 1 + 5 * 4, 6] = 2.0  # input 3, row 1, column 4, output 6
    w3[7, 4 + 5 * 0] = 3.0  # input 7, row 4, column 0
    path = tmp_path / "x2.mat"
    scipy.io.savemat(path, {"weights_conv1": w1, "weights_conv2": w2, "weights_conv3": w3,
                            "biases_conv1": np.arange(64.0), "biases_conv2": np.ones(32),
                            "biases_conv3": 0.5})  # fmt: skip
    state = state_dict("srcnn", path, 2)
    assert state["convs.0.weight"][5, 0, 2, 7] == 1 and state["convs.0.weight"].sum() == 1
    assert state["convs.1.weight"][6, 3, 1, 4] == 2 and state["convs.1.weight"].sum() == 2
    assert state["convs.2.weight"][0, 7, 4, 0] == 3 and state["convs.2.weight"].sum() == 3
    assert state["convs.0.bias"][9] == 9 and state["convs.2.bias"].tolist() == [0.5]
    build("srcnn", 2).load_state_dict(state, strict=True)


def _vdsr_cells(depth: int = 20) -> dict:
    weights = np.empty(depth, dtype=object)
    biases = np.empty(depth, dtype=object)
    for i in range(depth):
        cin, cout = (1 if i == 0 else 64), (1 if i == depth - 1 else 64)
        weights[i] = np.zeros((3, 3, cin, cout), np.float32)
        biases[i] = np.zeros((cout, 1), np.float32)
    weights[0][0, 2, 0, 9] = 1.0  # h 0, w 2, cout 9
    weights[5][1, 0, 4, 8] = 2.0  # h 1, w 0, cin 4, cout 8
    return {"weight": weights, "bias": biases}


def test_vdsr_layout(tmp_path: Path):
    path = tmp_path / "VDSR_Official.mat"
    scipy.io.savemat(path, {"model": _vdsr_cells()})
    state = state_dict("vdsr", path, 3)
    assert state["convs.0.weight"][9, 0, 0, 2] == 1 and state["convs.5.weight"][8, 4, 1, 0] == 2
    build("vdsr", 3).load_state_dict(state, strict=True)


# ------------------------------------------------------------------------------------------- bad files


@pytest.fixture
def own_weights(weights_mirror: Path, tmp_path: Path) -> Path:
    """A private weights folder with the SRCNN files and VDSR, which a test may damage."""
    root = tmp_path / "weights"
    shutil.copytree(weights_mirror / "srcnn", root / "srcnn")
    shutil.copytree(weights_mirror / "vdsr", root / "vdsr")
    return root


def test_missing_file_says_how_to_fetch(tmp_path: Path):
    with pytest.raises(ReleasedWeightsError, match=r"SRCNN_955_ImageNet_x4\.mat: released weights not found; "
                       r"`srlib weights prepare srcnn`"):  # fmt: skip
        load_released("srcnn", 4, tmp_path)


@pytest.mark.data
def test_wrong_hash(own_weights: Path):
    path = own_weights / "srcnn" / "SRCNN_955_ImageNet_x2.mat"
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(
        ReleasedWeightsError, match=r"SRCNN_955_ImageNet_x2\.mat has sha256 .*expected dc06d52ab0ec"
    ):
        load_released("srcnn", 2, own_weights)


@pytest.mark.data
def test_truncated(own_weights: Path):
    path = own_weights / "vdsr" / "VDSR_Official.mat"
    path.write_bytes(path.read_bytes()[:100_000])
    with pytest.raises(
        ReleasedWeightsError, match=r"VDSR_Official\.mat is truncated: 100000 of 2490083 bytes"
    ):
        load_released("vdsr", 2, own_weights)
    # without the hash check, the reader itself refuses it
    with pytest.raises(ReleasedWeightsError, match=r"VDSR_Official\.mat: not a readable MATLAB v5 file"):
        load_released("vdsr", 2, own_weights, verify=False)


def test_not_a_mat_file(tmp_path: Path):
    path = tmp_path / "srcnn" / "SRCNN_955_ImageNet_x3.mat"
    path.parent.mkdir()
    path.write_bytes(b"<html>404: Not Found</html>")
    with pytest.raises(ReleasedWeightsError, match=r"x3\.mat: not a readable MATLAB v5 file"):
        load_released("srcnn", 3, tmp_path, verify=False)


def test_missing_variable(tmp_path: Path):
    path = tmp_path / "x.mat"
    scipy.io.savemat(path, {"weights_conv1": np.zeros((81, 64)), "biases_conv1": np.zeros(64)})
    expected = r"x\.mat: not a SRCNN 9-5-5 file: variable 'weights_conv2' missing \(found: biases_conv1, w"
    with pytest.raises(ReleasedWeightsError, match=expected):
        state_dict("srcnn", path, 2)


def test_wrong_shape(tmp_path: Path):
    """A 9-1-5 file read as 9-5-5: its 1x1 middle layer has the wrong shape."""
    path = tmp_path / "x.mat"
    scipy.io.savemat(path, {"weights_conv1": np.zeros((81, 64)), "weights_conv2": np.zeros((64, 32)),
                            "weights_conv3": np.zeros((32, 25)), "biases_conv1": np.zeros(64),
                            "biases_conv2": np.zeros(32), "biases_conv3": 0.0})  # fmt: skip
    expected = r"weights_conv2 has shape \(64, 32\), expected \(64, 25, 32\) for SRCNN 9-5-5"
    with pytest.raises(ReleasedWeightsError, match=expected):
        state_dict("srcnn", path, 2)
    state_dict("srcnn-915", path, 2)  # ... and is a valid 9-1-5 file


def test_vdsr_wrong_layer_count_and_missing_struct(tmp_path: Path):
    path = tmp_path / "v.mat"
    scipy.io.savemat(path, {"model": _vdsr_cells(depth=19)})
    with pytest.raises(ReleasedWeightsError, match=r"hold 19 / 19 layers, expected 20"):
        state_dict("vdsr", path, 2)
    scipy.io.savemat(path, {"net": {"weight": 1.0}})
    with pytest.raises(
        ReleasedWeightsError, match=r"v\.mat: not a VDSR \(20 layers\) file: no model\.weight"
    ):
        state_dict("vdsr", path, 2)


def test_lapsrn_missing_parameter(tmp_path: Path):
    params = np.zeros(2, dtype=[("name", object), ("value", object)])
    params[0] = ("input_conv_f", np.zeros((3, 3, 1, 64), np.float32))
    params[1] = ("level1_img_up_f", np.zeros((4, 4), np.float32))
    path = tmp_path / "l.mat"
    scipy.io.savemat(path, {"net": {"params": params}})
    with pytest.raises(ReleasedWeightsError, match=r"l\.mat: not a LapSRN \(1 levels\) file: variable "
                       r"'input_conv_b' missing"):  # fmt: skip
        state_dict("lapsrn", path, 2)


@pytest.mark.data
def test_load_state_dict_mismatch_is_named(weights_mirror: Path, tmp_path: Path):
    """A file with the right variables for another number of levels: strict loading fails, named."""
    (tmp_path / "lapsrn").mkdir()
    shutil.copy(
        weights_mirror / "lapsrn" / "LapSRN_x2.mat", tmp_path / "lapsrn" / "LapSRN_x4.mat"
    )  # an x2 file where the x4 model is expected
    expected = (
        r"LapSRN_x4\.mat does not fit srlib's lapsrn x4 .*: 25 tensors missing \(features\.1\.0\.bias, "
    )
    with pytest.raises(ReleasedWeightsError, match=expected):
        load_released("lapsrn", 4, tmp_path, verify=False)


@pytest.mark.data
def test_lapsrn_layer_geometry_is_checked(weights_mirror: Path):
    """A DagNN whose feature upsampling crops the first row and column instead of the last is not the
    network srlib's LapSRN computes: refused, naming the layer."""
    from srlib.released import _READERS, read_mat

    path = weights_mirror / "lapsrn" / "LapSRN_x2.mat"
    variables = read_mat(path)
    for layer in variables["net"]["layers"].item():
        if str(layer["name"]) == "level1_upconv":
            layer["block"]["crop"][()] = np.array([1, 0, 1, 0], dtype=np.uint8)
    with pytest.raises(ReleasedWeightsError, match=r"layer level1_upconv has crop \[1, 0, 1, 0\]; srlib's "
                       r"LapSRN computes \[0, 1, 0, 1\]"):  # fmt: skip
        _READERS["lapsrn"](variables, RELEASES["lapsrn"], path)
