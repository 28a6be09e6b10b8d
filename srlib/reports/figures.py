"""The paper's figures: the Fig. 5-style visual comparison of every method on one image per scale.

Only 05_figures imports this module (training curves and HR/LR pairs are in `plots`), so editing it re-runs
that step alone.

Everything draws on `matplotlib.figure.Figure` (no pyplot state, so it works the same in a notebook, under
papermill and headless) and `save` writes PNGs atomically. The comparison crop is chosen by a rule rather than
by eye: the window with the most HR gradient energy (texture and edges, where methods differ), so a re-run
picks the same region and no method is favoured.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from srlib.core import atomic
from srlib.core.coverage import check_lists

Box = tuple[int, int, int, int]  # top, left, height, width (HR pixels)
COVERS_KEY = "srlib-covers"  # PNG text chunk: what a figure shows (scales, models)


def save(
    fig: Figure,
    path: str | os.PathLike[str],
    dpi: int = 120,
    covers: Mapping[str, Sequence[Any]] | None = None,
) -> Path:
    """Write `fig` as a PNG atomically; returns the path. `covers` ({"scales": [2, 3, 4], "models": [...]})
    is stored in the PNG; a figure there that covers more is not replaced (srlib.core.coverage)."""
    path = Path(path)
    metadata = {}
    if covers is not None:
        check_lists(path, _covers(path), covers)
        metadata[COVERS_KEY] = json.dumps({k: list(v) for k, v in covers.items()})
    with atomic.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, metadata=metadata)
    return path


def _covers(path: Path) -> dict[str, Any]:
    """What a PNG written by `save` covers (empty for other files)."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            return json.loads(image.text.get(COVERS_KEY, "{}"))
    except (OSError, ValueError, AttributeError):
        return {}


def pick_crop(hr: np.ndarray, size: int, margin: int = 0, step: int = 4) -> Box:
    """The `size` x `size` window (on a `step` grid, at least `margin` pixels from every border, where
    convolutions see padding) of `hr` with the largest gradient energy of its luminance; ties go to the
    top-left-most window, so the choice is deterministic."""
    h, w = hr.shape[:2]
    size = min(size, h, w)
    margin = max(0, min(margin, (h - size) // 2, (w - size) // 2))
    gray = hr.astype(np.float64) @ np.array([0.299, 0.587, 0.114]) if hr.ndim == 3 else hr.astype(np.float64)
    energy = np.zeros((h, w))
    energy[:, 1:] += np.diff(gray, axis=1) ** 2
    energy[1:, :] += np.diff(gray, axis=0) ** 2
    integral = np.pad(energy.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    ys = np.arange(margin, h - size - margin + 1, step)
    xs = np.arange(margin, w - size - margin + 1, step)
    y0, x0 = np.meshgrid(ys, xs, indexing="ij")
    total = (
        integral[y0 + size, x0 + size] - integral[y0, x0 + size] - integral[y0 + size, x0] + integral[y0, x0]
    )
    iy, ix = np.unravel_index(int(np.argmax(total)), total.shape)
    return int(ys[iy]), int(xs[ix]), size, size


def visual_comparison(
    hr: np.ndarray,
    results: Mapping[str, tuple[np.ndarray, float, float]],
    box: Box,
    title: str,
) -> Figure:
    """The paper's Fig. 5 layout: the HR image with the crop box on the left; on the right the zoomed crop of
    HR and of each method's output (`results[label] = (sr, psnr, ssim)`), labelled with its PSNR/SSIM."""
    top, left, bh, bw = box
    panels = [("HR", hr, None), *((k, v[0], (v[1], v[2])) for k, v in results.items())]
    cols = (len(panels) + 1) // 2
    fig = Figure(figsize=(3.2 + 2.1 * cols, 4.6), constrained_layout=True)
    grid = fig.add_gridspec(2, cols + 2)
    ax = fig.add_subplot(grid[:, :2])
    ax.imshow(hr)
    ax.add_patch(Rectangle((left - 0.5, top - 0.5), bw, bh, fill=False, edgecolor="red", linewidth=1.5))
    ax.set_title(title, fontsize=9)
    ax.set_axis_off()
    for i, (label, image, scores) in enumerate(panels):
        sub = fig.add_subplot(grid[i // cols, 2 + i % cols])
        sub.imshow(image[top : top + bh, left : left + bw], interpolation="nearest")
        text = label if scores is None else f"{label}\n{scores[0]:.2f} dB / {scores[1]:.4f}"
        sub.set_title(text, fontsize=8)
        sub.set_axis_off()
    return fig


def compare_methods(
    models: Mapping[str, Any], hr: np.ndarray, scale: int, grayscale: bool = False
) -> dict[str, tuple[np.ndarray, float, float]]:
    """Super-resolve the LR version of `hr` with each model and score it by the evaluation protocol
    (`srlib.evaluation.score_image`, as `srlib evaluate` does); `grayscale` as for a single-channel file
    (`srlib.evaluation.is_single_channel_file`)."""
    from srlib.evaluation import prepare, score_image

    item = prepare(hr, scale, gray=grayscale)
    out = {}
    for label, model in models.items():
        scored = score_image(model, item)
        out[label] = (scored.sr, scored.psnr, scored.ssim)
    return out


def released_models(
    names: Sequence[str], scale: int, weights_dir: str | os.PathLike[str] | None = None
) -> dict[str, Any]:
    """{"SRCNN (authors' weights)": model} for the releases `names` that serve `scale`, so Fig. 5 shows the
    published baselines beside our trainings. Their files are fetched and sha256-verified first
    (`srlib.data.weights_manifest.prepare_weights`: mirror, else the pinned URLs; kept when already there)."""
    from srlib.data.weights_manifest import prepare_weights
    from srlib.released import load_released, release
    from srlib.reports.compare import released_label
    from srlib.reports.tables import display_name

    served = [n for n in names if scale in release(n).scales]
    prepare_weights(sorted({release(n).files[scale] for n in served}), weights_dir, progress=False)
    return {display_name(released_label(n)): load_released(n, scale, weights_dir) for n in served}


def comparison_figure(
    image: str,
    models: Mapping[str, Any],
    scale: int,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    profile: str = "",
) -> Figure:
    """Fig. 5 for one scale: `image` ("<set>/<name>") super-resolved by every model of `models` ({label:
    model}), the crop picked by `pick_crop`, each crop labelled with the whole image's PSNR/SSIM."""
    from srlib.core.imresize import modcrop
    from srlib.data.benchmark import set_files
    from srlib.data.images import load_image
    from srlib.evaluation import is_single_channel_file

    set_name, _, name = image.partition("/")
    files = {p.stem: p for p in set_files(set_name, data_dir or None)}
    if name not in files:
        raise ValueError(f"image {name!r} is not in {set_name}; it has {', '.join(sorted(files)[:8])}, ...")
    hr = modcrop(load_image(files[name]), scale)
    results = compare_methods(models, hr, scale, grayscale=is_single_channel_file(files[name]))
    box = pick_crop(hr, max(24, min(hr.shape[:2]) // 4), margin=8 * scale)
    suffix = f" ({profile} profile)" if profile else ""
    return visual_comparison(hr, results, box, f"{image} x{scale}{suffix}")


def figure_paths(root: str | os.PathLike[str], scales: Sequence[int]) -> list[Path]:
    """The PNGs 05_figures writes under a results folder: one visual comparison per scale and the curves."""
    return [
        *(Path(root) / "figures" / f"fig5_x{s}.png" for s in scales),
        Path(root) / "figures" / "curves.png",
    ]
