"""Parameter and multiply-add (MAC) counts of every model, for a 1280x720 output.

MACs come from `torch.utils.flop_counter.FlopCounterMode` (MACs = FLOPs / 2) with the input a fake tensor
(`FakeTensorMode`): shapes propagate, nothing is computed or allocated, so a full 1280x720 forward of the
paper-size MemNet costs a fraction of a second (the `meta` device would do the same, but
`torch.autocast(device_type="meta")`, which the second-order attention opens to force float32, is an error).

Counted: convolutions (transposed ones at their input resolution: in_pixels x C_in x C_out x k^2, all that a
transposed conv multiplies), linear layers and every matrix product (mm/addmm/bmm/baddbmm), which covers the
attention: the region non-local block's QK^T and AV inside scaled_dot_product_attention (torch 2.13 has no
formula for its CPU kernel and would count it as zero; this module registers one) and the second-order
block's covariance and Newton-Schulz products. Not counted: element-wise work (activations, BN, additions,
softmax), the usual convention of the SR literature's MAC tables, and the fixed bicubic resizes (the
`srlib.models.BicubicResize` modules of the pre-upsampling models and LapSRN x3, and the Bicubic model):
MATLAB's cubic needs 4 taps per axis and output pixel, but `srlib.core.imresize` may run it as a dense matrix
product on short axes, which the counter would otherwise report at the matrix's size. Weights shared across
recursions (MemNet) are counted once in the parameters and at every use in the MACs.

The counts are exact for the given input size, including MLRN's region attention, whose cost grows with the
square of the region size (so not linearly with the image), which is why nothing is extrapolated from a
small input. x3 has no integer LR size for a 1280-pixel-wide output; it uses ceil(1280 / 3) = 427 LR columns
(1281 output columns) and the table records the sizes used.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.utils import flop_counter
from torch.utils.flop_counter import FlopCounterMode

from srlib.core.atomic import write_text
from srlib.models import BicubicResize, build_model, model_names

OUTPUT_HW = (720, 1280)
SCALES = (2, 3, 4)
ABLATION_LABELS = {"non_local": "NL", "second_order": "SO", "multi_scale": "MS"}


def count_parameters(model: nn.Module) -> int:
    """Number of distinct trainable parameters (shared weights counted once)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _register_cpu_sdpa() -> None:
    """torch 2.13's FlopCounterMode has formulas for the CUDA attention kernels but not for the one that
    `scaled_dot_product_attention` dispatches to on CPU, which it then counts as zero; add it (the same
    count: QK^T and AV)."""
    op = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu
    if op in flop_counter.flop_registry or op.default in flop_counter.flop_registry:
        return

    @flop_counter.register_flop_formula(op)
    def _cpu_sdpa_flop(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
        return flop_counter.sdpa_flop_count(query_shape, key_shape, value_shape)


_register_cpu_sdpa()


def macs_by_op(model: nn.Module, lr_hw: tuple[int, int], batch: int = 1) -> dict[str, int]:
    """Multiply-adds of one forward pass on a `batch` x in_channels x H x W input, per aten op (e.g.
    "convolution", "bmm", "_scaled_dot_product_flash_attention_for_cpu"); see the module docstring.

    Runs under FakeTensorMode: shapes propagate, nothing is computed or allocated, `model` is untouched.
    """
    was_training = model.training
    model.eval()
    try:
        with FakeTensorMode(allow_non_fake_inputs=True), torch.no_grad():
            x = torch.zeros(batch, model.in_channels, *lr_hw)
            with FlopCounterMode(display=False) as counter:
                model(x)
    finally:
        model.train(was_training)
    counts = counter.get_flop_counts()
    flops = dict(counts.get("Global", {}))
    for key in _uncounted_keys(model):
        for op, value in counts.get(key, {}).items():
            flops[op] -= value
    return {str(op).split(".")[-1]: value // 2 for op, value in flops.items() if value}


def _uncounted_keys(model: nn.Module) -> list[str]:
    """FlopCounterMode's keys ("RootClass.sub.module") of the fixed bicubic resizes inside `model`."""
    from srlib.models.bicubic import Bicubic

    root = type(model).__name__
    keys: list[str] = []
    for name, module in model.named_modules():
        key = f"{root}.{name}" if name else root
        if isinstance(module, (BicubicResize, Bicubic)) and not any(key.startswith(k + ".") for k in keys):
            keys.append(key)
    return keys


def count_macs(model: nn.Module, lr_hw: tuple[int, int], batch: int = 1) -> int:
    """Total multiply-adds of one forward pass (the sum of `macs_by_op`)."""
    return sum(macs_by_op(model, lr_hw, batch).values())


def lr_size(out_hw: tuple[int, int], scale: int) -> tuple[int, int]:
    """The LR size whose output covers `out_hw` (ceil where the output is not a multiple of the scale)."""
    return math.ceil(out_hw[0] / scale), math.ceil(out_hw[1] / scale)


def variants(include_mlrn: bool = True) -> list[tuple[str, str, dict[str, Any]]]:
    """(model, variant label, options) for every registered model plus MLRN's four Table 1 variants."""
    from srlib.core.paper import TABLE1

    rows = [(name, "", {}) for name in model_names() if include_mlrn or name != "mlrn"]
    if include_mlrn:
        for flags, _ in TABLE1:
            label = "+".join(ABLATION_LABELS[k] for k, on in flags.items() if on)
            rows.append(("mlrn", f"Table 1: {label}", dict(flags)))
    return rows


def complexity_table(
    scales: Iterable[int] = SCALES,
    out_hw: tuple[int, int] = OUTPUT_HW,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    include_mlrn: bool | None = None,
) -> pd.DataFrame:
    """One row per (model, variant, scale): parameters and MACs for an `out_hw` output.

    `options` overrides a model's defaults (e.g. a training profile's CPU sizes); default: the published
    (paper-size) configuration. `include_mlrn=None` includes MLRN when srlib.models.mlrn imports.
    """
    if include_mlrn is None:
        try:
            import srlib.models.mlrn  # noqa: F401
        except ImportError:
            include_mlrn = False
        else:
            include_mlrn = True
    rows = []
    for name, variant, flags in variants(include_mlrn):
        opts = {**(options or {}).get(name, {}), **flags}
        for scale in scales:
            torch.manual_seed(0)
            model = build_model(name, scale, **opts)
            hw = lr_size(out_hw, scale)
            macs = count_macs(model, hw)
            rows.append(
                {
                    "model": name,
                    "variant": variant,
                    "options": ", ".join(f"{k}={v}" for k, v in opts.items()),
                    "scale": scale,
                    "lr_h": hw[0],
                    "lr_w": hw[1],
                    "out_h": hw[0] * scale,
                    "out_w": hw[1] * scale,
                    "params": count_parameters(model),
                    "macs": macs,
                    "gmacs": macs / 1e9,
                }
            )
    return pd.DataFrame(rows)


def to_markdown(table: pd.DataFrame) -> str:
    """A wide Markdown table: one line per model/variant, parameters and GMACs per scale."""
    scales = sorted(table["scale"].unique())
    head = ["model", "variant"] + [f"params x{s}" for s in scales] + [f"GMACs x{s}" for s in scales]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * 2 + "---:|" * (2 * len(scales))]
    for (model, variant), group in table.groupby(["model", "variant"], sort=False):
        by_scale = group.set_index("scale")
        params = [f"{by_scale.loc[s, 'params']:,}" for s in scales]
        gmacs = [f"{by_scale.loc[s, 'gmacs']:,.1f}" for s in scales]
        lines.append("| " + " | ".join([model, variant or "default", *params, *gmacs]) + " |")
    sizes = ", ".join(
        f"x{s}: {r.lr_w}x{r.lr_h} -> {r.out_w}x{r.out_h}"
        for s, r in table.drop_duplicates("scale").set_index("scale").iterrows()
    )
    note = (
        "\nMACs = multiply-adds of one forward pass (convolutions, linear layers, matrix products incl. "
        "attention; element-wise work and the bicubic resize not counted), counted with "
        "torch.utils.flop_counter on fake tensors (srlib.models.complexity). "
        f"Input -> output sizes (W x H): {sizes}. "
        "Default options are the published (paper-size) configurations (Y-channel baselines: in_channels=1); "
        "options that differ are listed in models.csv.\n"
    )
    return "\n".join(lines) + "\n" + note


def write_table(out_dir: str | Path, caption: str | None = None, **kwargs: Any) -> tuple[Path, Path]:
    """Write `models.csv` (long form) and `models.md` (wide, with `caption` under the title) into `out_dir`;
    `kwargs` go to `complexity_table`. Returns both paths."""
    table = complexity_table(**kwargs)
    out = Path(out_dir)
    csv_path, md_path = out / "models.csv", out / "models.md"
    write_text(csv_path, table.to_csv(index=False, float_format="%.4f"))
    out_h, out_w = kwargs.get("out_hw", OUTPUT_HW)
    title = f"# Model complexity ({out_w}x{out_h} output)\n\n" + (f"{caption}\n\n" if caption else "")
    write_text(md_path, title + to_markdown(table))
    return csv_path, md_path
