"""`prepare` / `verify` / `srlib data`: mirror copies, HTTP downloads (only from a server on 127.0.0.1 -- this
machine has no internet), corrupt files, interrupted transfers, resume, and the no-source error message.

The tests use Set5 (5 files, 0.85 MB) from the data mirror, copied into tmp_path where they need changes."""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import shutil
import socket
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from srlib.data import fetch
from srlib.data import prepare as prep
from srlib.data.manifest import entries
from srlib.data.prepare import PrepareError, is_valid, prepare, run_prepare, verify

pytestmark = pytest.mark.data

SET5 = entries("Set5")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ambient mirror / URL base from the environment (CI sets SRLIB_MIRROR); no sleep between retries."""
    monkeypatch.delenv("SRLIB_MIRROR", raising=False)
    monkeypatch.delenv(prep.ENV_URL_BASE, raising=False)
    monkeypatch.setattr(fetch, "RETRY_BACKOFF_S", 0.0)


@pytest.fixture
def set5_mirror(mirror_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the mirror's Set5 that a test may damage."""
    root = tmp_path / "mirror"
    shutil.copytree(mirror_dir / "Set5", root / "Set5")
    return root


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves a mirror folder; records request paths; can cut one file's body short (a dying server)."""

    requests: list[str]
    cut_short: set[str]

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self.requests.append(self.path)
        name = self.path.rsplit("/", 1)[-1]
        if name in self.cut_short:
            data = Path(self.translate_path(self.path)).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        super().do_GET()


@contextlib.contextmanager
def serve(directory: Path, cut_short: tuple[str, ...] = ()) -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on 127.0.0.1 (port chosen by the OS) serving `directory`; yields (base URL, paths)."""
    requests: list[str] = []
    handler = type("H", (_Handler,), {"requests": requests, "cut_short": set(cut_short)})
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(directory))
    )
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def corrupt(path: Path) -> None:
    """Flip one byte in the middle, keeping the size (so only the hash can tell)."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def temporaries(root: Path) -> list[Path]:
    return sorted(root.rglob("*.tmp"))


def assert_set5_complete(data: Path) -> None:
    for e in SET5:
        assert is_valid(e, e.path(data)), e.relpath
    assert not temporaries(data)


# --------------------------------------------------------------------------------------------- mirror


def test_mirror_copy_verified_and_resumed(mirror_dir: Path, tmp_path: Path):
    data = tmp_path / "data"
    summary = run_prepare(["Set5"], data, mirror_dir, progress=False, offline=True)
    assert (summary.copied, summary.kept, summary.downloaded) == (5, 0, 0)
    assert_set5_complete(data)
    mode = stat.S_IMODE((data / "Set5" / "baby.png").stat().st_mode)
    assert mode & 0o044 == 0o044, oct(mode)  # readable by others, not the 0600 of a temporary file
    mtimes = {e.name: e.path(data).stat().st_mtime_ns for e in SET5}
    again = run_prepare("set5", data, mirror_dir, progress=False, offline=True)
    assert (again.copied, again.kept) == (0, 5)
    assert mtimes == {e.name: e.path(data).stat().st_mtime_ns for e in SET5}


def test_prepare_returns_data_dir_and_uses_env_mirror(mirror_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("SRLIB_MIRROR", str(mirror_dir))
    data = tmp_path / "data"
    assert prepare(["Set5"], data, progress=False, offline=True) == data
    assert_set5_complete(data)


def test_corrupt_mirror_file_reported_not_copied(set5_mirror: Path, tmp_path: Path):
    corrupt(set5_mirror / "Set5" / "bird.png")
    data = tmp_path / "data"
    with pytest.raises(PrepareError) as info:
        prepare(["Set5"], data, set5_mirror, progress=False, offline=True)
    message = str(info.value)
    assert "1 of 5 files" in message and "Set5/bird.png" in message
    assert "corrupt" in message and "not copied" in message and "sha256" in message
    assert not (data / "Set5" / "bird.png").exists()
    assert all(is_valid(e, e.path(data)) for e in SET5 if e.name != "bird.png")
    assert not temporaries(data)


def test_wrong_size_mirror_file_reported(set5_mirror: Path, tmp_path: Path):
    path = set5_mirror / "Set5" / "head.png"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(PrepareError, match=r"head\.png.*1000 bytes.*not copied"):
        prepare(["Set5"], tmp_path / "data", set5_mirror, progress=False, offline=True)


def test_corrupt_mirror_file_then_downloaded(set5_mirror: Path, mirror_dir: Path, tmp_path: Path):
    corrupt(set5_mirror / "Set5" / "woman.png")
    data = tmp_path / "data"
    with serve(mirror_dir) as (base, requests):
        summary = run_prepare(["Set5"], data, set5_mirror, progress=False, url_base=base)
    assert (summary.copied, summary.downloaded) == (4, 1)
    assert requests == ["/Set5/woman.png"]
    assert any("woman.png" in w and "corrupt" in w for w in summary.warnings)
    assert_set5_complete(data)


def test_missing_mirror_directory_is_an_error(mirror_dir: Path, tmp_path: Path):
    data = tmp_path / "data"
    with pytest.raises(PrepareError, match="no-such-mirror is not a directory"):
        prepare(["Set5"], data, tmp_path / "no-such-mirror", progress=False)
    prepare(["Set5"], data, mirror_dir, progress=False, offline=True)
    # ... but only once a file has to be fetched: a complete set needs no mirror
    assert run_prepare(["Set5"], data, tmp_path / "no-such-mirror", progress=False).kept == 5


def test_resume_after_kill_replaces_partial_and_wrong_files(mirror_dir: Path, tmp_path: Path):
    """What a SIGKILLed run (or a hand-copied partial file) leaves: a temporary file, a truncated file and a
    file of the right size with wrong bytes. The rerun removes the first and replaces the other two, and keeps
    the good files untouched."""
    data = tmp_path / "data"
    prepare(["Set5"], data, mirror_dir, progress=False, offline=True)
    folder = data / "Set5"
    (folder / ".baby.png.k1ll3d.tmp").write_bytes(b"partial")
    (folder / "bird.png").write_bytes((mirror_dir / "Set5" / "bird.png").read_bytes()[:500])
    corrupt(folder / "head.png")
    (folder / "woman.png").unlink()
    untouched = (folder / "butterfly.png").stat().st_mtime_ns
    summary = run_prepare(["Set5"], data, mirror_dir, progress=False, offline=True)
    assert (summary.kept, summary.copied) == (2, 3)
    assert_set5_complete(data)
    assert (folder / "butterfly.png").stat().st_mtime_ns == untouched


# --------------------------------------------------------------------------------------------- HTTP


def test_http_download_from_local_server(mirror_dir: Path, tmp_path: Path):
    data = tmp_path / "data"
    with serve(mirror_dir) as (base, requests):
        summary = run_prepare(["Set5"], data, None, progress=False, url_base=base)
    assert (summary.downloaded, summary.copied, summary.kept) == (5, 0, 0)
    assert sorted(requests) == sorted(f"/Set5/{e.name}" for e in SET5)
    assert_set5_complete(data)


def test_http_url_base_from_environment(mirror_dir: Path, tmp_path: Path, monkeypatch):
    with serve(mirror_dir) as (base, requests):
        monkeypatch.setenv(prep.ENV_URL_BASE, base + "/")
        prepare(["Set5"], tmp_path / "data", progress=False)
    assert len(requests) == 5
    assert_set5_complete(tmp_path / "data")


def test_http_corrupted_file_rejected(set5_mirror: Path, tmp_path: Path):
    corrupt(set5_mirror / "Set5" / "butterfly.png")
    data = tmp_path / "data"
    with serve(set5_mirror) as (base, requests), pytest.raises(PrepareError) as info:
        prepare(["Set5"], data, None, progress=False, url_base=base, retries=1)
    message = str(info.value)
    assert "1 of 5 files" in message and "Set5/butterfly.png" in message and "sha256" in message
    assert requests.count("/Set5/butterfly.png") == 2  # retried once, then refused
    assert not (data / "Set5" / "butterfly.png").exists()
    assert not temporaries(data)


def test_http_404_reported(set5_mirror: Path, tmp_path: Path):
    (set5_mirror / "Set5" / "head.png").unlink()
    with serve(set5_mirror) as (base, _), pytest.raises(PrepareError, match=r"head\.png.*HTTP 404"):
        prepare(["Set5"], tmp_path / "data", None, progress=False, url_base=base)


def test_http_interrupted_transfer_then_resume(mirror_dir: Path, tmp_path: Path):
    """The server dies in the middle of baby.png: no partial file remains, the others are kept, and the next
    run fetches only baby.png."""
    data = tmp_path / "data"
    with serve(mirror_dir, cut_short=("baby.png",)) as (base, _), pytest.raises(PrepareError) as info:
        prepare(["Set5"], data, None, progress=False, url_base=base, retries=0, timeout=5)
    assert "1 of 5 files" in str(info.value)
    assert (
        f"Set5/baby.png: no mirror given; download failed: wrong content from {base}/Set5/baby.png: got only"
        in str(info.value)
    )
    assert not (data / "Set5" / "baby.png").exists()
    assert not temporaries(data)
    with serve(mirror_dir) as (base, requests):
        summary = run_prepare(["Set5"], data, None, progress=False, url_base=base)
    assert requests == ["/Set5/baby.png"]
    assert (summary.kept, summary.downloaded) == (4, 1)
    assert_set5_complete(data)


def test_no_mirror_and_no_network_one_clear_message(tmp_path: Path):
    data = tmp_path / "data"
    with pytest.raises(PrepareError) as info:
        prepare(["Set5"], data, None, progress=False, url_base=closed_port_url(), retries=1, timeout=5)
    message = str(info.value)
    assert "could not obtain 5 of 5 files" in message
    for e in SET5:
        assert e.relpath in message
    assert "--mirror" in message and "SRLIB_MIRROR" in message and "cannot connect" in message
    assert message.count("cannot connect") == 1  # said once, not per file
    assert not any(data.rglob("*.png"))


def test_many_failures_are_summarised(tmp_path: Path):
    with pytest.raises(PrepareError) as info:
        prepare(["Set5", "Set14"], tmp_path / "data", None, progress=False, offline=True)
    message = str(info.value)
    assert "19 of 19 files" in message and "Set5: 5, Set14: 14" in message
    assert f"... and {19 - prep.SHOW_FIRST} more" in message


def test_unknown_set(tmp_path: Path):
    with pytest.raises(ValueError, match=r"Set6.*valid.*Set5.*Demo"):
        prepare(["Set6"], tmp_path, None, progress=False)


# --------------------------------------------------------------------------------------------- verify / CLI


def test_verify_reports_missing_and_corrupt(mirror_dir: Path, tmp_path: Path):
    data = tmp_path / "data"
    prepare(["Set5"], data, mirror_dir, progress=False, offline=True)
    assert verify(["Set5"], data, progress=False).all_ok
    corrupt(data / "Set5" / "baby.png")
    (data / "Set5" / "bird.png").unlink()
    report = verify(["Set5"], data, progress=False)
    assert not report.all_ok
    assert [e.name for e in report.corrupt] == ["baby.png"]
    assert [e.name for e in report.missing] == ["bird.png"]
    assert "srlib data prepare --sets Set5" in str(report)


def _cli(argv: list[str]) -> int:
    """`srlib data ARGV` through srlib.cli: errors are one line and exit 2; a failed verify exits 1."""
    from srlib.cli import main

    return main(["data", *argv])


def test_cli_prepare_verify_list(mirror_dir: Path, tmp_path: Path, capsys):
    data = str(tmp_path / "data")
    assert _cli(["prepare", "--sets", "Set5", "--data-dir", data, "--offline", "--no-progress"]) == 2
    assert "--mirror" in capsys.readouterr().err
    args = ["--sets", "Set5", "Demo", "--data-dir", data, "--no-progress"]
    assert _cli(["prepare", *args, "--mirror", str(mirror_dir), "--offline"]) == 0
    assert "5 copied from the mirror" in capsys.readouterr().out
    assert _cli(["verify", *args]) == 0
    corrupt(Path(data) / "Set5" / "head.png")
    assert _cli(["verify", *args]) == 1
    assert "head.png" in capsys.readouterr().out
    assert _cli(["list", "--data-dir", data]) == 0
    out = capsys.readouterr().out
    assert "Set5" in out and "ready" in out and "absent" in out and "not a benchmark" in out
    assert _cli(["prepare", "--sets", "Set6", "--data-dir", data]) == 2
    assert "valid" in capsys.readouterr().err


def test_cli_help_mentions_mirror(capsys):
    with pytest.raises(SystemExit):
        _cli(["prepare", "--help"])
    out = capsys.readouterr().out
    assert "--mirror" in out and "SRLIB_MIRROR" in out and "sha256" in out


def test_data_dir_fixture_has_every_set(data_dir: Path):
    """The session fixture prepared (and hash-verified) all six sets."""
    for e in entries():
        assert e.path(data_dir).stat().st_size == e.size
    assert not temporaries(data_dir)
    assert os.access(data_dir / "Set5" / "baby.png", os.R_OK)
