"""The wall-time plan of the paper's recipe: every training of the replication, its expected time on one GPU,
and the whole replication on N GPUs -- from a device check's record when one exists, else from FLOPs.

    PYTHONPATH=. python benchmarks/training_plan.py            # print the plan (Markdown)
    PYTHONPATH=. python benchmarks/training_plan.py --write    # refresh its section in docs/training.md
    PYTHONPATH=. python benchmarks/training_plan.py --check    # exit 1 if it is stale (a test runs this)

Sources, in this order:
1. the record of `benchmarks/gpu_check.py` committed at `docs/gpu-check/record.json` (`--record` for
   another): seconds per iteration = the median measured at the paper's size and batch, float32 for the
   `paper` profile and bf16 + channels_last for `paper-amp`;
2. without one: floating-point operations per iteration, counted by `srlib.models.complexity.count_macs`
   (convolutions and matrix products of a forward pass at the paper's batch of 16 LR patches of 192 / scale
   pixels; a training iteration taken as 3 forward passes, 6 x MACs), converted to time on the paper's GPU, a
   GTX 1080 Ti (11.34 TFLOPS float32 peak), at the utilisation the paper's own statement implies: "GPU
   GTX1080Ti takes about 5 day to train MLRN 1000 epochs" (Section 4.2) = 10^6 iterations of MLRN x2 in 5 x
   86,400 s. Every model is assumed to reach that same fraction of the peak (not measured).

N GPUs, two ways: independent trainings, one per GPU at a time (the makespan of a longest-first greedy
assignment; e.g. `CUDA_VISIBLE_DEVICES=k srlib train ...` per GPU), or each training in turn over all N GPUs
with DDP (`torchrun --nproc_per_node N`), at ideal linear scaling (a lower bound: DDP's efficiency at this
batch of 16 is not measured).
"""

from __future__ import annotations

import argparse
import heapq
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RECORD = REPO / "docs" / "gpu-check" / "record.json"
DOC = REPO / "docs" / "training.md"
BEGIN, END = (
    "<!-- training-plan:begin (benchmarks/training_plan.py --write) -->",
    "<!-- training-plan:end -->",
)
GTX_1080_TI_TFLOPS = 11.34  # float32 peak: 3584 CUDA cores x 2 FLOP x 1.582 GHz boost
PAPER_MLRN_SECONDS = 5 * 86_400  # "about 5 day to train MLRN 1000 epochs" (taken as x2)
GPU_COUNTS = (1, 2, 4, 8)
# the measured mode each profile trains with (gpu_check's mode names)
PROFILE_MODES = {"paper": "none", "paper-amp": "bf16+cl"}


@dataclass(frozen=True)
class Training:
    """One training of the replication: a Table 2 model at a scale, or a Table 1 MLRN variant at x2."""

    model: str
    scale: int
    flags: tuple[tuple[str, bool], ...] = ()  # Table 1 ablation flags; () = the model as the profile has it

    @property
    def variant(self) -> str | None:
        """`"non_local"` for the Table 1 row with only the non-local part on; None for a Table 2 model."""
        if not self.flags:
            return None
        return "+".join(name for name, value in self.flags if value) or "none"

    @property
    def label(self) -> str:
        base = f"{self.model} x{self.scale}"
        return f"{base} ({self.variant} only)" if self.variant else base

    def overrides(self) -> dict[str, bool]:
        from srlib.train.config import ablation_overrides

        return ablation_overrides(dict(self.flags)) if self.flags else {}


def paper_trainings() -> list[Training]:
    """The 18 trainings: each learned Table 2 model at each scale, and the Table 1 variants other than the
    full MLRN (which is Table 2's MLRN x2) at Table 1's scale."""
    from srlib.core.paper import SCALES, TABLE1, TABLE1_SCALE, TABLE2_MODELS
    from srlib.train.config import load_profile

    learned = [m for m in TABLE2_MODELS if m in load_profile("paper")["models"]]
    out = [Training(m, s) for m in learned for s in SCALES]
    for flags, _ in TABLE1:
        if not all(flags.values()):
            out.append(Training("mlrn", TABLE1_SCALE, tuple(sorted(flags.items()))))
    return out


def iterations(t: Training, profile: str = "paper") -> int:
    from srlib.train.config import resolve_config

    return int(resolve_config(t.model, t.scale, profile, t.overrides())["iterations"])


def train_flops(t: Training, profile: str = "paper") -> float:
    """FLOPs of one training iteration at the profile's size and batch: 6 x forward MACs (see module doc)."""
    from srlib.models import build_model
    from srlib.models.complexity import count_macs
    from srlib.train.config import resolve_config

    c = resolve_config(t.model, t.scale, profile, t.overrides())
    net = build_model(t.model, t.scale, **c["model_options"])
    lr = c["hr_patch"] // t.scale
    return 6.0 * count_macs(net, (lr, lr), batch=c["batch_size"])


def flop_seconds(trainings: list[Training]) -> tuple[dict[str, float], dict[str, Any]]:
    """Seconds per iteration on a GTX 1080 Ti from FLOPs, calibrated on the paper's 5 days for MLRN x2."""
    flops = {t.label: train_flops(t) for t in trainings}
    mlrn = Training("mlrn", 2)
    per_iter = PAPER_MLRN_SECONDS / iterations(mlrn)
    rate = flops[mlrn.label] / per_iter  # FLOP/s the paper's statement implies
    info = {
        "source": "flops",
        "utilisation": rate / (GTX_1080_TI_TFLOPS * 1e12),
        "tflops": {k: v / 1e12 for k, v in flops.items()},
        "mlrn_s_per_iter": per_iter,
    }
    return {k: v / rate for k, v in flops.items()}, info


def measured_seconds(record: dict[str, Any], mode: str, trainings: list[Training]) -> dict[str, Any]:
    """Seconds per iteration of each training from a gpu_check record's timings in `mode`: the training's own
    timing, else (marked) the same model at x2, or for a Table 1 variant the full MLRN x2 (an upper bound:
    a variant only removes parts)."""
    ok = {
        (r["model"], r["scale"], r.get("variant")): r["median_ms"] / 1000
        for r in record.get("timings", [])
        if r.get("mode") == mode and r.get("status") == "ok"
    }
    out: dict[str, Any] = {}
    for t in trainings:
        for key, note in (
            ((t.model, t.scale, t.variant), ""),
            ((t.model, t.scale, None), "full MLRN timing" if t.variant else ""),
            ((t.model, 2, None), "x2 timing"),
        ):
            if key in ok:
                out[t.label] = (ok[key], note)
                break
    return out


def makespan(hours: list[float], n: int) -> float:
    """Wall time of independent jobs on n identical workers, longest first to the least-loaded worker."""
    loads = [0.0] * n
    for h in sorted(hours, reverse=True):
        heapq.heappush(loads, heapq.heappop(loads) + h)
    return max(loads)


def _days(hours: float) -> str:
    return f"{hours:,.1f} h" if hours < 48 else f"{hours / 24:,.1f} d"


def _gpu_table(hours: dict[str, list[float]]) -> list[str]:
    heads = list(hours)
    lines = [
        "| GPUs | "
        + " | ".join(f"{h}: one training per GPU | {h}: DDP over all (ideal)" for h in heads)
        + " |",
        "|---|" + "---|---|" * len(heads),
    ]
    for n in GPU_COUNTS:
        cells = [f"{_days(makespan(v, n))} | {_days(sum(v) / n)}" for v in hours.values()]
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    return lines


def render(record: dict[str, Any] | None) -> str:
    """The plan as Markdown: per training, and for the whole replication on 1..8 GPUs."""
    trainings = paper_trainings()
    its = {t.label: iterations(t) for t in trainings}
    tflops: dict[str, float] = {}
    if record is not None:
        env = record.get("environment", {})
        where = f"{env.get('device_name', '?')} (torch {env.get('torch')}, CUDA {env.get('cuda')})"
        head = (
            f"Measured by `benchmarks/gpu_check.py` on {where}, {record.get('created', '?')}: median seconds "
            "per iteration at the paper's size and batch x the paper profile's iterations."
        )
        columns = {p: measured_seconds(record, m, trainings) for p, m in PROFILE_MODES.items()}
        columns = {p: v for p, v in columns.items() if v}
    else:
        sec, info = flop_seconds(trainings)
        util = 100 * info["utilisation"]
        head = (
            "No device check record yet (nothing has run on a GPU): estimated from FLOPs per iteration on "
            f"the paper's GTX 1080 Ti ({GTX_1080_TI_TFLOPS} TFLOPS float32) at {util:.0f} % of its peak, the "
            "utilisation implied by the paper's 5 days for MLRN (x2) and assumed for every model. A training "
            "iteration = 6 x forward multiply-adds (convolutions and matrix products; no element-wise work, "
            "batch norm or bicubic resizes), batch 16 at the paper's patch size."
        )
        columns = {"paper (GTX 1080 Ti, estimate)": {k: (v, "") for k, v in sec.items()}}
        tflops = info["tflops"]
    if not columns:
        return head + "\n\nNo timing of the paper profile's modes succeeded: nothing to project.\n"
    lines = [head, ""]
    header = "| training | iterations |"
    rule = "|---|---|"
    if record is None:
        header += " TFLOP / iteration |"
        rule += "---|"
    for p in columns:
        header += f" {p}: s / iteration | {p}: wall |"
        rule += "---|---|"
    lines += [header, rule]
    totals: dict[str, list[float]] = {p: [] for p in columns}
    for t in trainings:
        row = f"| {t.label} | {its[t.label]:,} |"
        if record is None:
            row += f" {tflops[t.label]:.2f} |"
        for p, sec_map in columns.items():
            if t.label not in sec_map:
                row += " not measured | - |"
                continue
            s, note = sec_map[t.label]
            hours = s * its[t.label] / 3600
            totals[p].append(hours)
            row += f" {s:.3f}{f' ({note})' if note else ''} | {_days(hours)} |"
        lines.append(row)
    lines += ["", f"The whole replication ({len(trainings)} trainings, evaluation not included):", ""]
    lines += _gpu_table(totals)
    return "\n".join(lines) + "\n"


def load_record(path: Path | None) -> dict[str, Any] | None:
    path = RECORD if path is None else path
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def doc_section(text: str) -> str:
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{DOC}: markers {BEGIN!r} ... {END!r} not found")
    return text.split(BEGIN, 1)[1].split(END, 1)[0].strip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record", type=Path, default=None, help=f"gpu_check record (default {RECORD})")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="rewrite the plan section of docs/training.md")
    mode.add_argument("--check", action="store_true", help="exit 1 if docs/training.md's plan is stale")
    args = parser.parse_args(argv)
    plan = render(load_record(args.record))
    if not (args.write or args.check):
        print(plan, end="")
        return 0
    text = DOC.read_text(encoding="utf-8")
    current = doc_section(text)
    if args.check:
        if current != plan:
            print(
                f"{DOC}: the training plan is stale; run: PYTHONPATH=. python {Path(__file__).name} --write"
            )
            return 1
        return 0
    before, rest = text.split(BEGIN, 1)
    after = rest.split(END, 1)[1]
    from srlib.core import atomic

    atomic.write_text(DOC, f"{before}{BEGIN}\n{plan}{END}{after}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
