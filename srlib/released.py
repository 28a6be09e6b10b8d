"""The authors' released weights of Table 2's baselines, loaded into srlib's own model classes.

`load_released(name, scale)` reads the authors' MATLAB file (fetched by `srlib weights prepare` into
`srlib.core.paths.weights_dir()`, verified by size and sha256 against `srlib/data/weights_manifest.tsv`),
converts it into the state dict of the registry model (`srlib.models.build_model`) and loads it with
`load_state_dict(strict=True)`; no second model class. Names (`RELEASES`):

- `srcnn`: SRCNN 9-5-5 trained on ImageNet (TPAMI 2016), one file per scale; Table 2's SRCNN row.
- `srcnn-915`: the older SRCNN 9-1-5 trained on the 91 images (ECCV 2014), one file per scale.
- `vdsr`: Kim et al.'s single VDSR network for x2, x3 and x4 (the scale enters through the bicubic input).
- `lapsrn`: LapSRN x2 and x4 (CVPR 2017); x3 is the x4 model on the x3 LR with its output bicubic-resized to
  the x3 size (`LapSRN(scale=3)`), as the authors' `SR_LapSRN.m` does (no x3 model was released).

Conventions of the authors' test code that change the network's output are model options, set here:
SRCNN's replicate padding (`padding_mode="replicate"`); LapSRN's 3x3 feature upsampling whose last row and
column are cropped (`upsample_kernel=3`, the class's MatConvNet crop rule, checked against the file's layer
definitions). File layouts (README of the weights mirror): MATLAB arrays keep MATLAB's index order; a
MatConvNet filter F(h, w, cin, cout) is the torch weight F.transpose(3, 2, 0, 1) (transposed convolutions:
F(h, w, cout, cin), same transpose), no spatial flip; SRCNN stores conv1 as (81, n1) column-major 9x9, conv2
as [in, r + 5c, out], conv3 as [in, r + 5c].

A bad file gets one `ReleasedWeightsError` naming the file and what is wrong: missing (with the command that
fetches it), truncated or of the wrong size, wrong sha256, not a MATLAB file, variables missing, wrong shapes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from srlib.core import paths
from srlib.core.provenance import sha256_file
from srlib.data.manifest import Entry
from srlib.data.weights_manifest import weight_entry


class ReleasedWeightsError(ValueError):
    """A released weights file that is missing or cannot be converted; the message names the file."""


@dataclass(frozen=True)
class Release:
    """One released model: the registry model it loads into, with the options that carry the authors'
    conventions, and the manifest file (`<folder>/<name>`) that serves each scale."""

    name: str
    model: str
    options: Mapping[str, Any]
    files: Mapping[int, str]
    reader: str
    title: str
    paper_model: str | None = None  # the Table 2 row these weights are (None: not a Table 2 model)
    notes: Mapping[int, str] = field(default_factory=dict)

    @property
    def scales(self) -> tuple[int, ...]:
        return tuple(sorted(self.files))


_SRCNN = "srcnn/SRCNN_{}_x{}.mat"
RELEASES: dict[str, Release] = {
    "srcnn": Release(
        "srcnn", "srcnn", {"kernel_sizes": (9, 5, 5), "channels": (64, 32), "padding_mode": "replicate"},
        {s: _SRCNN.format("955_ImageNet", s) for s in (2, 3, 4)}, "srcnn",
        "SRCNN 9-5-5, ImageNet (Dong et al., TPAMI 2016; SRCNN_v1 release)", paper_model="srcnn",
    ),
    "srcnn-915": Release(
        "srcnn-915", "srcnn", {"kernel_sizes": (9, 1, 5), "channels": (64, 32), "padding_mode": "replicate"},
        {s: _SRCNN.format("915_91images", s) for s in (2, 3, 4)}, "srcnn",
        "SRCNN 9-1-5, 91 images (Dong et al., ECCV 2014; SRCNN_v1 release)",
    ),
    "vdsr": Release(
        "vdsr", "vdsr", {"depth": 20, "channels": 64}, {s: "vdsr/VDSR_Official.mat" for s in (2, 3, 4)},
        "vdsr", "VDSR, one network for x2-x4 (Kim et al., CVPR 2016; test-code .mat)", paper_model="vdsr",
    ),
    "lapsrn": Release(
        "lapsrn", "lapsrn", {"depth": 10, "channels": 64, "upsample_kernel": 3},
        {2: "lapsrn/LapSRN_x2.mat", 3: "lapsrn/LapSRN_x4.mat", 4: "lapsrn/LapSRN_x4.mat"}, "lapsrn",
        "LapSRN x2, x4 (Lai et al., CVPR 2017)", paper_model="lapsrn",
        notes={3: "the x4 model, output bicubic-resized to x3 (SR_LapSRN.m)"},
    ),
}  # fmt: skip
RELEASE_NAMES: tuple[str, ...] = tuple(RELEASES)


def release(name: str) -> Release:
    """The release called `name` (case-insensitive); ValueError listing the valid names."""
    key = str(name).lower()
    if key not in RELEASES:
        raise ValueError(f"unknown released model {name!r}; valid: {', '.join(RELEASE_NAMES)}")
    return RELEASES[key]


def file_entry(name: str, scale: int) -> Entry:
    """The manifest entry of the file that serves `name` at `scale`; ValueError for a scale it lacks."""
    rel = release(name)
    if scale not in rel.files:
        raise ValueError(f"released {rel.name} has no x{scale} model; scales: {list(rel.scales)}")
    return weight_entry(rel.files[scale])


def file_path(name: str, scale: int, weights_dir: str | os.PathLike[str] | None = None) -> Path:
    root = Path(weights_dir) if weights_dir is not None else paths.weights_dir()
    return file_entry(name, scale).path(root)


def build(name: str, scale: int) -> nn.Module:
    """The registry model of release `name` at `scale`, with the authors' conventions as options (random
    weights: `load_released` fills them)."""
    from srlib.models import build_model

    rel = release(name)
    file_entry(name, scale)  # refuses a scale the release lacks
    return build_model(rel.model, scale, **dict(rel.options))


def verify_file(entry: Entry, path: Path, name: str) -> None:
    """Refuse a file that is not byte for byte the manifest's: missing, truncated, wrong size or sha256."""
    fix = f"`srlib weights prepare {name}` fetches it (--mirror DIR or $SRLIB_WEIGHTS_MIRROR for a mirror)"
    if not path.is_file():
        raise ReleasedWeightsError(f"{path}: released weights not found; {fix}")
    size = path.stat().st_size
    if size < entry.size:
        raise ReleasedWeightsError(f"{path} is truncated: {size} of {entry.size} bytes; {fix}")
    if size != entry.size:
        raise ReleasedWeightsError(f"{path} has {size} bytes, expected {entry.size}; {fix}")
    digest = sha256_file(path)
    if digest != entry.sha256:
        raise ReleasedWeightsError(
            f"{path} has sha256 {digest[:12]}..., expected {entry.sha256[:12]}... (not the released file: "
            f"changed or corrupt); {fix}"
        )


def read_mat(path: Path) -> dict[str, Any]:
    """The variables of a MATLAB v5 file (singleton dimensions squeezed), or a ReleasedWeightsError."""
    import scipy.io

    try:
        data = scipy.io.loadmat(path, squeeze_me=True)
    except Exception as exc:  # scipy raises ValueError, TypeError, OSError, ... on bad files
        raise ReleasedWeightsError(
            f"{path}: not a readable MATLAB v5 file ({type(exc).__name__}: {exc})"
        ) from None
    return {k: v for k, v in data.items() if not k.startswith("__")}


def state_dict(name: str, path: str | os.PathLike[str], scale: int) -> dict[str, torch.Tensor]:
    """The state dict of `build(name, scale)` from the authors' file at `path` (not hash-checked)."""
    rel = release(name)
    path = Path(path)
    variables = read_mat(path)
    return {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in
            _READERS[rel.reader](variables, rel, path).items()}  # fmt: skip


def load_released(
    name: str,
    scale: int,
    weights_dir: str | os.PathLike[str] | None = None,
    device: str | torch.device = "cpu",
    verify: bool = True,
) -> nn.Module:
    """Release `name` at `scale` as an srlib model in eval mode on `device`, weights loaded strictly.

    weights_dir: default `srlib.core.paths.weights_dir()`. verify: check size and sha256 against the manifest.
    """
    rel = release(name)
    entry, path = file_entry(name, scale), file_path(name, scale, weights_dir)
    if verify:
        verify_file(entry, path, rel.name)
    elif not path.is_file():
        raise ReleasedWeightsError(f"{path}: released weights not found; run `srlib weights prepare {name}`")
    net = build(name, scale)
    state = state_dict(name, path, scale)
    expected = net.state_dict().keys()
    missing, unexpected = sorted(expected - state.keys()), sorted(state.keys() - expected)
    what = f"{path} does not fit srlib's {rel.model} x{scale} {dict(rel.options)}"
    if missing or unexpected:
        raise ReleasedWeightsError(
            f"{what}: {len(missing)} tensors missing ({', '.join(missing[:3]) or '-'}), {len(unexpected)} "
            f"unexpected ({', '.join(unexpected[:3]) or '-'})"
        )
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ReleasedWeightsError(f"{what}: {' '.join(str(exc).split())}") from None
    return net.to(device).eval()


def weights_sha256(name: str) -> dict[str, str]:
    """{file: sha256} of the files behind release `name`, from the manifest (what provenance records)."""
    rel = release(name)
    return {p: weight_entry(p).sha256 for p in dict.fromkeys(rel.files.values())}


# ------------------------------------------------------------------------------------------------ readers


def _get(variables: Mapping[str, Any], path: Path, key: str, shape: tuple[int, ...], what: str) -> np.ndarray:
    """Variable `key` as a float64 array of `shape` (MATLAB index order kept); squeezed singleton dimensions
    are restored. Missing or wrongly shaped: ReleasedWeightsError naming the file, the variable and `what`."""
    if key not in variables:
        found = ", ".join(sorted(variables)) or "none"
        raise ReleasedWeightsError(f"{path}: not a {what} file: variable {key!r} missing (found: {found})")
    try:
        value = np.asarray(variables[key], dtype=np.float64)
    except (TypeError, ValueError):
        raise ReleasedWeightsError(f"{path}: {key} is not a numeric array ({what})") from None
    squeezed = tuple(d for d in shape if d != 1)
    if value.shape != squeezed and value.shape != shape:
        raise ReleasedWeightsError(
            f"{path}: {key} has shape {value.shape}, expected {shape} for {what} (singleton dimensions "
            "may be dropped)"
        )
    return value.reshape(shape)


def _torch_filter(f: np.ndarray) -> np.ndarray:
    """MatConvNet F(h, w, cin, cout) -> torch Conv2d (cout, cin, h, w); for transposed convolutions F(h, w,
    cout, cin) -> ConvTranspose2d (cin, cout, h, w): the same transpose."""
    return f.transpose(3, 2, 0, 1)


def _srcnn(variables: Mapping[str, Any], rel: Release, path: Path) -> dict[str, np.ndarray]:
    k1, k2, k3 = rel.options["kernel_sizes"]
    n1, n2 = rel.options["channels"]
    what = f"SRCNN {k1}-{k2}-{k3}"
    w1 = _get(variables, path, "weights_conv1", (k1 * k1, n1), what)
    w2 = _get(variables, path, "weights_conv2", (n1, k2 * k2, n2) if k2 > 1 else (n1, n2), what)
    w3 = _get(variables, path, "weights_conv3", (n2, k3 * k3), what)
    biases = [_get(variables, path, f"biases_conv{i}", (n,), what) for i, n in ((1, n1), (2, n2), (3, 1))]
    # column-major k x k filters: index r + k * c (r = row, c = column); a C-order reshape gives [c, r]
    conv1 = w1.reshape(k1, k1, n1, order="F").transpose(2, 0, 1)[:, None]  # [o, 0, r, c]
    conv2 = w2.reshape(n1, k2, k2, n2).transpose(3, 0, 2, 1)  # [i, c, r, o] -> [o, i, r, c]
    conv3 = w3.reshape(n2, k3, k3).transpose(0, 2, 1)[None]  # [i, c, r] -> [0, i, r, c]
    out = {"convs.0.weight": conv1, "convs.1.weight": conv2, "convs.2.weight": conv3}
    out.update({f"convs.{i}.bias": b for i, b in enumerate(biases)})
    return out


def _struct_field(variables: Mapping[str, Any], path: Path, struct: str, name: str, what: str) -> np.ndarray:
    top = variables.get(struct)
    names = getattr(getattr(top, "dtype", None), "names", None) or ()
    if top is None or name not in names:
        found = ", ".join(sorted(variables)) or "none"
        raise ReleasedWeightsError(f"{path}: not a {what} file: no {struct}.{name} (variables: {found})")
    return np.atleast_1d(top[name].item() if top.shape == () else top[name])


def _vdsr(variables: Mapping[str, Any], rel: Release, path: Path) -> dict[str, np.ndarray]:
    depth, ch = rel.options["depth"], rel.options["channels"]
    what = f"VDSR ({depth} layers)"
    weights = _struct_field(variables, path, "model", "weight", what)
    biases = _struct_field(variables, path, "model", "bias", what)
    if len(weights) != depth or len(biases) != depth:
        raise ReleasedWeightsError(
            f"{path}: model.weight / model.bias hold {len(weights)} / {len(biases)} layers, expected {depth}"
        )
    out = {}
    for i in range(depth):
        cin, cout = (1 if i == 0 else ch), (1 if i == depth - 1 else ch)
        cells = {f"weight{{{i + 1}}}": weights[i], f"bias{{{i + 1}}}": biases[i]}
        f = _get(cells, path, f"weight{{{i + 1}}}", (3, 3, cin, cout), what)
        out[f"convs.{i}.weight"] = _torch_filter(f)
        out[f"convs.{i}.bias"] = _get(cells, path, f"bias{{{i + 1}}}", (cout,), what)
    return out


def _block_values(block: Any, key: str) -> tuple[int, ...] | None:
    fields = getattr(getattr(block, "dtype", None), "names", None) or ()
    return tuple(int(v) for v in np.atleast_1d(block[key].item())) if key in fields else None


def _expected_geometry(name: str, kind: str) -> dict[str, tuple[int, ...]]:
    """What srlib's LapSRN computes for one DagNN layer: conv padding 1; the 3x3 feature upsampling with
    stride 2 and its last row and column cropped (MatConvNet crop [top bottom left right] = [0 1 0 1],
    `upsample_kernel=3`); the 4x4 image upsampling with stride 2 and padding 1 (crop [1 1 1 1])."""
    if kind == "dagnn.Conv":
        return {"pad": (1, 1, 1, 1), "stride": (1, 1)}
    crop = (1, 1, 1, 1) if name.endswith("img_up") else (0, 1, 0, 1)
    return {"crop": crop, "upsample": (2, 2)}


def _lapsrn_check_layers(net: Any, path: Path) -> None:
    """The file's DagNN layers must compute what srlib's LapSRN computes (`_expected_geometry`, leaky-ReLU
    slope 0.2); a file without layer definitions is checked by its parameter shapes only."""
    if "layers" not in (getattr(net.dtype, "names", None) or ()):
        return
    for layer in np.atleast_1d(net["layers"].item()):
        name, kind, block = str(layer["name"]), str(layer["type"]), layer["block"]
        if kind in ("dagnn.Conv", "dagnn.ConvTranspose"):
            for key, want in _expected_geometry(name, kind).items():
                got = _block_values(block, key)
                if got is not None and got != want:
                    raise ReleasedWeightsError(
                        f"{path}: layer {name} has {key} {list(got)}; srlib's LapSRN computes {list(want)}"
                    )
        elif kind == "dagnn.ReLU":
            fields = getattr(getattr(block, "dtype", None), "names", None) or ()
            leak = float(block["leak"].item()) if "leak" in fields else 0.2
            if abs(leak - 0.2) > 1e-9:
                raise ReleasedWeightsError(f"{path}: layer {name} has leak {leak}, expected 0.2")


def _lapsrn(variables: Mapping[str, Any], rel: Release, path: Path) -> dict[str, np.ndarray]:
    depth, ch = rel.options["depth"], rel.options["channels"]
    if "net" not in variables:
        found = ", ".join(sorted(variables)) or "none"
        raise ReleasedWeightsError(f"{path}: not a LapSRN (MatConvNet DagNN) file: no 'net' (found: {found})")
    net = variables["net"]
    params = _struct_field(variables, path, "net", "params", "LapSRN (MatConvNet DagNN)")
    try:
        values = {str(p["name"]): p["value"] for p in params}
    except (ValueError, IndexError, TypeError):
        raise ReleasedWeightsError(f"{path}: net.params is not a list of (name, value)") from None
    _lapsrn_check_layers(net, path)
    levels = sum(1 for k in values if k.endswith("_img_up_f"))
    what = f"LapSRN ({levels} levels)"
    out = {
        "input_conv.0.weight": _torch_filter(_get(values, path, "input_conv_f", (3, 3, 1, ch), what)),
        "input_conv.0.bias": _get(values, path, "input_conv_b", (ch,), what),
    }
    for i in range(levels):
        lv = f"level{levels - i}"  # levels are numbered coarse to fine: L = n .. 1
        for k in range(depth):
            out[f"features.{i}.{2 * k}.weight"] = _torch_filter(_get(values, path, f"{lv}_conv{k + 1}_f",
                                                                     (3, 3, ch, ch), what))  # fmt: skip
            out[f"features.{i}.{2 * k}.bias"] = _get(values, path, f"{lv}_conv{k + 1}_b", (ch,), what)
        up = f"features.{i}.{2 * depth}.conv"
        out[f"{up}.weight"] = _torch_filter(_get(values, path, f"{lv}_upconv_f", (3, 3, ch, ch), what))
        out[f"{up}.bias"] = _get(values, path, f"{lv}_upconv_b", (ch,), what)
        out[f"residuals.{i}.weight"] = _torch_filter(_get(values, path, f"{lv}_residual_conv_f",
                                                          (3, 3, ch, 1), what))  # fmt: skip
        out[f"residuals.{i}.bias"] = _get(values, path, f"{lv}_residual_conv_b", (1,), what)
        out[f"image_up.{i}.conv.weight"] = _torch_filter(
            _get(values, path, f"{lv}_img_up_f", (4, 4, 1, 1), what)
        )
    return out


_READERS: dict[str, Callable[[Mapping[str, Any], Release, Path], dict[str, np.ndarray]]] = {
    "srcnn": _srcnn,
    "vdsr": _vdsr,
    "lapsrn": _lapsrn,
}
