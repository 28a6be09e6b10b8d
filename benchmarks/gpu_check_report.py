"""The Markdown report and JSON record of `benchmarks/gpu_check.py` (kept apart from the measuring code)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from benchmarks import training_plan as plan
from srlib.core import atomic


def _environment(env: dict[str, Any]) -> list[str]:
    keys = (
        "device_name",
        "device",
        "gpu_memory_gib",
        "compute_capability",
        "bf16_supported",
        "driver",
        "torch",
        "cuda",
        "cudnn",
        "cudnn_allow_tf32",
        "matmul_allow_tf32",
        "python",
        "platform",
        "cpu",
        "cpu_count",
        "torch_threads",
        "git_commit",
    )
    return ["| | |", "|---|---|"] + [f"| {k} | {env[k]} |" for k in keys if k in env]


def _tests(tests: dict[str, Any]) -> list[str]:
    if not tests.get("ran"):
        return [f"Not run: {tests.get('reason')}."]
    t = tests
    late = f", TIMED OUT after {t['timeout_s']} s" if t["timed_out"] else ""
    head = (
        f"`pytest -m cuda` on {', '.join(t['files'])}: {t['passed']} passed, {t['failed']} failed, "
        f"{t['error']} errors, {t['skipped']} skipped in {t['wall_s']} s "
        f"(return code {t['returncode']}{late}); output in `{t['log']}`."
    )
    return [head] + [f"- not passed: `{name}`" for name in tests["not_passed"]]


def _timings(rows: list[dict[str, Any]], smoke: bool) -> list[str]:
    size = "the smoke profile's sizes" if smoke else "the paper profile's sizes (paper-size models)"
    lines = [
        f"Training iterations through `srlib.train.train` at {size}, Demo patches: median over the timed "
        "steps (the first interval dropped as warm-up). Modes: `none` float32, `bf16` / `fp16` autocast "
        "(fp16 with a GradScaler), `+cl` channels_last.",
        "",
        "| training | mode | batch x HR patch | steps | ms / iteration | samples / s | peak memory (MiB) | "
        "status |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        label = f"{r['model']} x{r['scale']}" + (f" ({r['variant']} only)" if r.get("variant") else "")
        shape = f"{r['batch']} x {r['hr_patch']}" if "batch" in r else "-"
        if r["status"] == "ok":
            mem = (
                f"{r['peak_mem_mib']:,.0f} ({r['memory_kind']})"
                if r.get("peak_mem_mib") is not None
                else "n/a"
            )
            cells = f"{r['steps']} | {r['median_ms']:,.1f} | {r['samples_per_s']:,.1f} | {mem} | ok"
        else:
            cells = f"- | - | - | - | {r['status']}: {r.get('error') or ''}"
        lines.append(f"| {label} | {r['mode']} | {shape} | {cells} |")
    return lines


def _fmt_db(value: float | None) -> str:
    return "identical" if value is None or math.isinf(value) else f"{value:.2f}"


def _output_check(check: dict[str, Any]) -> list[str]:
    if check.get("status") != "ok":
        return [f"Not completed: {check.get('error')}"]
    lines = [
        f"{check['model']} x{check['scale']} trained {check['steps']} iterations per mode (same seed and "
        f"patches), scored on {check['images']} Demo images (PSNR on Y, the evaluation protocol). "
        f"float32-trained, float32 inference: {check['float32_psnr']:.3f} dB.",
        "",
        "| mode | float32 model under autocast: PSNR (delta) | agreement with float32 output (dB) | "
        "model trained in the mode: PSNR (delta) |",
        "|---|---|---|---|",
    ]
    for m in check["modes"]:
        if m["status"] != "ok":
            lines.append(f"| {m['mode']} | {m['status']}: {m.get('error')} | | |")
            continue
        infer = f"{m['inference_psnr']:.3f} ({m['inference_delta_db']:+.3f})"
        own = f"{m['trained_psnr']:.3f} ({m['trained_delta_db']:+.3f})"
        lines.append(f"| {m['mode']} | {infer} | {_fmt_db(m['inference_agreement_db'])} | {own} |")
    return lines


def render_report(record: dict[str, Any]) -> str:
    env = record["environment"]
    smoke = record.get("smoke", False)
    lines = [
        f"# Device check: {env.get('device_name')}",
        "",
        f"`benchmarks/gpu_check.py {' '.join(record['argv'])}`, {record['created']}, "
        f"{record['wall_s']} s of a {record['budget_s']:.0f} s budget.",
        "",
        *([f"**The check failed:** {record['fatal']}", ""] if record.get("fatal") else []),
        "## Environment",
        "",
        *_environment(env),
        "",
        "## CUDA tests",
        "",
        *_tests(record["tests"]),
        "",
        "## Training speed",
        "",
        *_timings(record.get("timings", []), smoke),
        "",
        "## float32 vs mixed precision",
        "",
        *_output_check(record.get("output_check", {"error": "not run (yet)"})),
        "",
        "## Projected wall time of the paper profile on this device",
        "",
    ]
    if smoke:
        lines.append(
            "(Smoke sizes: these timings are of the tiny smoke models, so this projects nothing real; "
            "it shows the computation.)\n"
        )
    if record.get("timings"):
        lines.append(plan.render(record))
    else:
        lines.append("No timings (yet).")
    return "\n".join(lines)


def write_report(record: dict[str, Any], out: Path) -> None:
    atomic.write_text(out / "record.json", json.dumps(record, indent=2, default=str) + "\n")
    atomic.write_text(out / "report.md", render_report(record))
