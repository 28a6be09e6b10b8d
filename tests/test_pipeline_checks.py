"""`near`: measured numbers against a committed run with a tolerance, and a line nbval can compare."""

from __future__ import annotations

import pytest

from srlib.pipeline.checks import near


def test_near_accepts_values_within_the_tolerance_and_prints_no_number():
    line = near({"Set5": 18.14, "Set14": 17.0}, {"Set5": 18.1}, tol=0.3, what="PSNR (dB)")
    assert line == "PSNR (dB) within 0.3 of the committed run for: Set5"


def test_near_names_every_value_out_of_tolerance_or_missing():
    with pytest.raises(AssertionError, match=r"a: 1.5 \(committed 1.0\); b: None"):
        near({"a": 1.5}, {"a": 1.0, "b": 2.0}, tol=0.3)
    with pytest.raises(AssertionError):
        near({"a": float("nan")}, {"a": 1.0}, tol=0.3)


def test_check_smoke_reads_and_records_the_reference_file(tmp_path, monkeypatch):
    """The committed smoke numbers are data (notebooks/smoke_reference.json); `record` mode rewrites them."""
    import json

    from srlib.pipeline import checks

    ref = tmp_path / "smoke_reference.json"
    ref.write_text(json.dumps({"tolerance": 0.3, "nb": {"Set5": 18.0}}))
    monkeypatch.setattr(checks, "reference_path", lambda: ref)
    monkeypatch.delenv(checks.RECORD_ENV, raising=False)
    assert "within 0.3" in checks.check_smoke("nb", {"Set5": 18.2})
    with pytest.raises(AssertionError, match=r"more than 0\.3"):
        checks.check_smoke("nb", {"Set5": 18.5})
    monkeypatch.setenv(checks.RECORD_ENV, "record")
    assert "recorded" in checks.check_smoke("nb", {"Set5": 18.5123})
    assert json.loads(ref.read_text())["nb"] == {"Set5": 18.51}
