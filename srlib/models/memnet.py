"""MemNet (Tai, Yang, Liu, Xu: "MemNet: A Persistent Memory Network for Image Restoration", ICCV 2017),
following the authors' Caffe definition of MemNet_M6R6_80C64 (tyshiwo/MemNet, *_train.prototxt).

Everything is pre-activation (BN -> ReLU -> conv) on the bicubic-upsampled image x:

- FENet: BN-ReLU-conv3x3 (channels) -> B0;
- `n_memory` = 6 memory blocks; block m has a recursive unit of `n_recursions` = 6 residual blocks
  H_r = H_{r-1} + conv(BN-ReLU(conv(BN-ReLU(H_{r-1})))) whose two 3x3 convs are shared by all recursions of
  the block (each recursion has its own BN), and a gate unit BN-ReLU-conv1x1 on the concatenation of the
  long-term memory [B0, ..., B_{m-1}] and the short-term memory [H_1, ..., H_R] -> B_m;
- ReconNet per block: BN-ReLU-conv3x3 -> residual; y_m = x + residual. The 3x3 conv is shared by all blocks
  (the BN is not);
- output: sum_m w_m * y_m with learnable scalars w_m (multi-supervision).

Loss (Caffe EuclideanLoss with loss_weight 1 on each y_m and on the weighted sum): `training_outputs(lr)`
returns the final output and every y_m, each with weight 1 (the paper's alpha form with alpha = 1/(M+1)).

Deviations (docs/models.md): the w_m start at 1/M (Caffe's Scale layer starts at 1, so the untrained sum is
M times too bright); BatchNorm can be switched off (`batch_norm=False`, identity instead of BN) for tiny CPU
batches; `recon_init_gain` scales the ReconNet conv's MSRA init (1.0 = published; the quick profile uses
0.01 because with MSRA init the untrained residual has std ~0.7 and 1,000 iterations do not undo it: 27.75 dB
vs 34.03 dB on Set5 x2 in one quick run); MemNet trained one model for x2/x3/x4 together, here one model
per scale like every other model.
"""

from __future__ import annotations

import torch
from torch import nn

from srlib.models import BicubicResize, TrainingTerm, check_in_channels, check_scale, pre_upsampled_radius


def _bn(channels: int, batch_norm: bool) -> nn.Module:
    return nn.BatchNorm2d(channels) if batch_norm else nn.Identity()


def _preact(bn: nn.Module, conv: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """BN -> ReLU -> conv."""
    return conv(torch.relu(bn(x)))


class _MemoryBlock(nn.Module):
    def __init__(self, channels: int, n_recursions: int, n_long: int, batch_norm: bool) -> None:
        super().__init__()
        # The residual block's two convs are shared by all recursions; each recursion has its own BNs.
        self.conv_a = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv_b = nn.Conv2d(channels, channels, 3, padding=1)
        self.bn_a = nn.ModuleList(_bn(channels, batch_norm) for _ in range(n_recursions))
        self.bn_b = nn.ModuleList(_bn(channels, batch_norm) for _ in range(n_recursions))
        gate_in = (n_long + n_recursions) * channels
        self.gate_bn = _bn(gate_in, batch_norm)
        self.gate_conv = nn.Conv2d(gate_in, channels, 1)

    def forward(self, x: torch.Tensor, long_term: list[torch.Tensor]) -> torch.Tensor:
        short_term = []
        h = x
        for bn_a, bn_b in zip(self.bn_a, self.bn_b, strict=True):
            h = h + _preact(bn_b, self.conv_b, _preact(bn_a, self.conv_a, h))
            short_term.append(h)
        return _preact(self.gate_bn, self.gate_conv, torch.cat(long_term + short_term, dim=1))


class MemNet(nn.Module):
    """MemNet behind the registry interface: `forward(lr)` upsamples `lr` with MATLAB bicubic internally."""

    published_loss = "mse"

    def __init__(
        self,
        scale: int,
        *,
        in_channels: int = 1,
        n_memory: int = 6,
        n_recursions: int = 6,
        channels: int = 64,
        batch_norm: bool = True,
        recon_init_gain: float = 1.0,
    ) -> None:
        super().__init__()
        self.scale = check_scale("memnet", scale)
        self.in_channels = check_in_channels("memnet", in_channels)
        self.upsample = BicubicResize(self.scale)
        if n_memory < 1 or n_recursions < 1 or channels < 1:
            raise ValueError(
                f"memnet: n_memory, n_recursions and channels must be >= 1, got {n_memory}, {n_recursions}, "
                f"{channels}"
            )
        self.fenet_bn = _bn(self.in_channels, batch_norm)
        self.fenet_conv = nn.Conv2d(self.in_channels, channels, 3, padding=1)
        self.blocks = nn.ModuleList(
            _MemoryBlock(channels, n_recursions, n_long=m + 1, batch_norm=batch_norm) for m in range(n_memory)
        )
        # ReconNet: one conv shared by all blocks, one BN per block.
        self.recon_bn = nn.ModuleList(_bn(channels, batch_norm) for _ in range(n_memory))
        self.recon_conv = nn.Conv2d(channels, self.in_channels, 3, padding=1)
        self.output_weights = nn.Parameter(torch.full((n_memory,), 1.0 / n_memory))
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                nn.init.zeros_(module.bias)
        with torch.no_grad():
            self.recon_conv.weight.mul_(recon_init_gain)

    @property
    def receptive_radius(self) -> int:
        """LR pixels of context an output pixel depends on (bicubic taps included); the tiling overlap.
        3x3 convs on the longest path: FENet, two per recursion of every block, ReconNet."""
        return pre_upsampled_radius(2 + 2 * len(self.blocks) * len(self.blocks[0].bn_a), self.scale)

    def block_outputs(self, lr: torch.Tensor) -> list[torch.Tensor]:
        """y_m = x + ReconNet(B_m) for every memory block m (the multi-supervised predictions)."""
        x = self.upsample(lr)
        memory = [_preact(self.fenet_bn, self.fenet_conv, x)]
        for block in self.blocks:
            memory.append(block(memory[-1], memory))
        return [x + _preact(bn, self.recon_conv, b) for bn, b in zip(self.recon_bn, memory[1:], strict=True)]

    def _combine(self, outputs: list[torch.Tensor]) -> torch.Tensor:
        out = self.output_weights[0] * outputs[0]
        for w, y in zip(self.output_weights[1:], outputs[1:], strict=True):
            out = out + w * y
        return out

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        return self._combine(self.block_outputs(lr))

    def training_outputs(self, lr: torch.Tensor) -> list[TrainingTerm]:
        """Multi-supervision: the weighted sum and every block's prediction, MSE with weight 1 each."""
        outputs = self.block_outputs(lr)
        final = TrainingTerm(self._combine(outputs), float(self.scale), 1.0)
        return [final] + [TrainingTerm(y, float(self.scale), 1.0) for y in outputs]
