"""Parameter and multiply-add (MAC) counts of a model for a given input size.

The table of every model at 1280x720 (`srlib models --table`) is written by `srlib.reports.models_table`.

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
square of the region size: regions are about `nl_region` pixels wide whatever the input (up to twice that
where an axis does not divide, or the whole axis when shorter; the legacy `nl_grid` makes them grow with the
input), so the cost is only roughly linear in the image size and nothing is extrapolated from a small
input. `lr_size` gives the input for an output size a scale does not divide (ceil: x3 of a 1280-pixel-wide
output uses 427 LR columns, 1281 output columns).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.utils import flop_counter
from torch.utils.flop_counter import FlopCounterMode

from srlib.models import BicubicResize


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
