"""Profiles are data: all three load and resolve for every model and scale; overrides; hashing; errors."""

from __future__ import annotations

import json

import pytest

from srlib.core.paper import TABLE1
from srlib.models import build_model, model_options
from srlib.train.config import (
    PROFILE_NAMES,
    ConfigError,
    RunConfig,
    ablation_overrides,
    config_hash,
    eval_plan,
    load_profile,
    parse_overrides,
    reductions,
    resolve_config,
)

LEARNED = ("mlrn", "srcnn", "vdsr", "lapsrn", "memnet")


@pytest.mark.parametrize("profile", PROFILE_NAMES)
def test_profiles_resolve_for_every_model_and_scale(profile: str) -> None:
    prof = load_profile(profile)
    assert set(prof["models"]) == set(LEARNED)
    for model in LEARNED:
        for scale in (2, 3, 4):
            config = resolve_config(model, scale, profile)
            assert config["hr_patch"] % scale == 0
            assert set(config["model_options"]) <= set(model_options(model))
    # the Table 1 variants are valid MLRN options
    for flags, _ in TABLE1:
        resolve_config("mlrn", 2, profile, ablation_overrides(flags))


def test_paper_profile_is_the_paper_recipe() -> None:
    c = resolve_config("mlrn", 2, "paper")
    assert c["optimizer"] == {
        "name": "adam",
        "lr": 1e-4,
        "betas": [0.9, 0.999],
        "eps": 1e-8,
        "weight_decay": 0.0,
    }
    assert c["loss"]["name"] == "l1" and c["batch_size"] == 16 and c["hr_patch"] == 192
    assert c["iterations"] == 1000 * 1000
    assert c["schedule"] == {"name": "step", "step_iters": 200_000, "gamma": 0.5}
    assert c["data"]["train_sets"] == ["T91", "BSD200"] and c["data"]["augment"] is True
    assert c["model_options"] == {}  # paper-size = constructor defaults
    assert reductions("paper") == []


@pytest.mark.parametrize("profile", PROFILE_NAMES)
def test_baselines_keep_their_published_losses(profile: str) -> None:
    for model in LEARNED:
        c = resolve_config(model, 2, profile)
        net = build_model(model, 2, **c["model_options"])
        assert c["loss"]["name"] == getattr(net, "published_loss", "l1"), model
        assert c["loss"]["multi_output"] == hasattr(net, "training_outputs"), model


def test_quick_profile_declares_its_reductions() -> None:
    notes = reductions("quick")
    assert any("iterations" in n for n in notes) and any("Urban100" in n for n in notes)
    assert any(n.startswith("mlrn: channels 32") for n in notes)
    plan = eval_plan("quick", "vdsr")
    assert plan["sets"] == ["Set5", "Set14", "BSD100", "Urban100"] and plan["max_images"] == {"Urban100": 20}


def test_overrides_dotted_json_and_plain_strings() -> None:
    over = parse_overrides(
        [
            "iterations=7",
            "optimizer.lr=2e-4",
            "loss.name=mse",
            "model_options.channels=16",
            'data.train_sets=["Demo"]',
            "grad_clip=null",
            'validation.set="Set5"',
        ]
    )
    c = resolve_config("mlrn", 3, "smoke", over)
    assert c["iterations"] == 7 and c["optimizer"]["lr"] == 2e-4 and c["loss"]["name"] == "mse"
    assert c["model_options"]["channels"] == 16 and c["data"]["train_sets"] == ["Demo"]
    assert c["grad_clip"] is None and c["validation"]["set"] == "Set5"
    assert c["optimizer"]["betas"] == [0.9, 0.999]  # untouched siblings stay


def test_unknown_keys_and_bad_values_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"unknown config key 'optimiser\.lr'.*optimizer\.lr"):
        resolve_config("mlrn", 2, "smoke", {"optimiser.lr": 1.0})
    with pytest.raises(ConfigError, match="hr_patch=25 must be a positive integer divisible by the scale 2"):
        resolve_config("mlrn", 2, "smoke", {"hr_patch": 25})
    with pytest.raises(ConfigError, match=r"loss\.name"):
        resolve_config("mlrn", 2, "smoke", {"loss.name": "l3"})
    with pytest.raises(ConfigError, match="cannot be overridden"):
        resolve_config("mlrn", 2, "smoke", {"scale": 3})
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(["iterations"])
    with pytest.raises(ConfigError, match="unknown profile 'fast'"):
        load_profile("fast")
    with pytest.raises(ConfigError, match="no entry for model 'bicubic'"):
        resolve_config("bicubic", 2, "smoke")


def test_hash_ignores_runtime_only() -> None:
    base = config_hash(resolve_config("mlrn", 2, "quick"))
    assert (
        config_hash(
            resolve_config(
                "mlrn",
                2,
                "quick",
                {"runtime.device": "cpu", "runtime.ckpt_every": 7, "runtime.num_workers": 2},
            )
        )
        == base
    )
    assert config_hash(resolve_config("mlrn", 2, "quick", {"seed": 1})) != base
    assert config_hash(resolve_config("mlrn", 3, "quick")) != base
    assert config_hash(resolve_config("mlrn", 2, "quick", ablation_overrides({"non_local": False}))) != base


def test_profile_from_a_json_file(tmp_path) -> None:
    prof = load_profile("smoke")
    prof["name"] = "mine"
    prof["defaults"]["iterations"] = 3
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(prof))
    c = resolve_config("srcnn", 2, str(path))
    assert c["profile"] == "mine" and c["iterations"] == 3


def test_cli_show_config_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    from srlib.commands.train import main

    assert (
        main(
            [
                "--model",
                "mlrn",
                "--scale",
                "2",
                "--profile",
                "quick",
                "--set",
                "iterations=9",
                "--show-config",
            ]
        )
        == 0
    )
    shown = json.loads(capsys.readouterr().out)
    assert shown["config"]["iterations"] == 9 and len(shown["config_hash"]) == 16
    assert main(["--model", "mlrn", "--scale", "2", "--set", "bogus=1", "--show-config"]) == 2
    assert "unknown config key 'bogus'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for option in ("--model", "--scale", "--profile", "--set", "--out", "--resume", "--data-dir", "torchrun"):
        assert option in out


def test_run_config_is_a_typed_view_of_the_resolved_dict(tmp_path) -> None:
    config = resolve_config("lapsrn", 4, "smoke", {"validation.set": None, "runtime.val_every": 3})
    cfg = RunConfig.from_dict(config)
    assert (cfg.model, cfg.scale, cfg.profile) == ("lapsrn", 4, "smoke")
    assert cfg.data.train_sets == ("Demo",) and cfg.validation.set is None
    assert cfg.runtime.val_every == 3 and cfg.runtime.threads is None
    assert cfg.multi_output is config["loss"]["multi_output"]
    assert cfg.resolved == config and cfg.hash == config_hash(config)
    # a custom profile may omit optional runtime keys (defaults apply) and carry unknown ones (ignored)
    prof = load_profile("smoke")
    prof["defaults"]["runtime"] = {"log_every": 1, "ckpt_every": 2, "keep_last": 1, "val_every": 0, "note": 1}
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(prof))
    rt = RunConfig.from_dict(resolve_config("srcnn", 2, str(path))).runtime
    assert (rt.device, rt.num_workers, rt.progress, rt.log_every) == ("auto", 0, True, 1)


def test_scale_and_ablation_flags_come_from_the_paper_facts() -> None:
    from srlib.core.paper import ABLATION_FLAGS

    with pytest.raises(ConfigError, match="scale must be one of 2, 3, 4, got 8"):
        resolve_config("mlrn", 8, "smoke")
    assert set(ablation_overrides(dict.fromkeys(ABLATION_FLAGS, True))) == {
        f"model_options.{f}" for f in ABLATION_FLAGS
    }
    with pytest.raises(ConfigError, match="unknown ablation flag"):
        ablation_overrides({"attention": True})


def _flat(tree: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


@pytest.mark.parametrize("scale", (2, 3, 4))
def test_paper_amp_is_paper_plus_bf16_and_channels_last(scale: int) -> None:
    """The paper-amp profile changes exactly the precision keys, for every model and Table 1 variant."""
    variants = [{}] + [ablation_overrides(flags) for flags, _ in TABLE1]
    for model in LEARNED:
        for over in variants if model == "mlrn" else [{}]:
            paper = _flat(resolve_config(model, scale, "paper", over))
            amp = _flat(resolve_config(model, scale, "paper-amp", over))
            assert paper.keys() == amp.keys()
            diff = {k: (paper[k], amp[k]) for k in paper if paper[k] != amp[k]}
            assert diff == {
                "profile": ("paper", "paper-amp"),
                "amp": ("none", "bf16"),
                "runtime.channels_last": (False, True),
            }, model
    prof = load_profile("paper-amp")
    assert prof["extends"] == "paper" and prof["evaluation"] == load_profile("paper")["evaluation"]
    assert len(reductions("paper-amp")) == 1 and "bf16" in reductions("paper-amp")[0]


def test_amp_none_and_null_hash_alike() -> None:
    """Runs written when float32 was spelled `null` keep their hash (and can be resumed)."""
    config = resolve_config("mlrn", 2, "quick")
    assert config["amp"] == "none" and RunConfig.from_dict(config).amp == "none"
    old = {**config, "amp": None}
    assert config_hash(old) == config_hash(config) and RunConfig.from_dict(old).amp == "none"
    assert config_hash({**config, "amp": "bf16"}) != config_hash(config)
    # channels_last and compile are runtime: not hashed
    layout = resolve_config("mlrn", 2, "quick", {"runtime.channels_last": True, "runtime.compile": True})
    assert config_hash(layout) == config_hash(config)


def test_profile_extends_a_file_and_refuses_cycles(tmp_path) -> None:
    child = tmp_path / "mine.json"
    child.write_text(
        json.dumps({"name": "mine", "extends": "smoke", "description": "d", "defaults": {"iterations": 3}}),
        encoding="utf-8",
    )
    c = resolve_config("vdsr", 2, child)
    assert c["iterations"] == 3 and c["hr_patch"] == 24 and c["profile"] == "mine"
    grandchild = tmp_path / "g.json"
    grandchild.write_text(json.dumps({"name": "g", "extends": "mine.json", "description": "g"}), "utf-8")
    assert resolve_config("vdsr", 2, grandchild)["iterations"] == 3
    loop = tmp_path / "loop.json"
    loop.write_text(json.dumps({"name": "loop", "extends": "loop.json"}), encoding="utf-8")
    with pytest.raises(ConfigError, match="extends itself"):
        load_profile(loop)
