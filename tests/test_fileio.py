"""glowgan.fileio: atomic writes, stale-temporary cleanup, JSONL append, read and truncate."""

from __future__ import annotations

import json
import os
import stat

import pytest

from glowgan import fileio


def _names(folder) -> list[str]:
    return sorted(os.listdir(folder))


def _usual_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def test_write_atomically_writes_through_a_hidden_temporary_with_the_target_suffix(tmp_path):
    seen = []

    def write(tmp: str) -> None:
        seen.append(os.path.basename(tmp))
        assert os.path.dirname(tmp) == str(tmp_path / "sub"), "the temporary is beside the target"
        with open(tmp, "w") as stream:
            stream.write("new")

    fileio.write_atomically(tmp_path / "sub" / "grid.png", write)
    assert (tmp_path / "sub" / "grid.png").read_text() == "new"
    assert _names(tmp_path / "sub") == ["grid.png"]
    assert seen[0].startswith(".grid.png.") and seen[0].endswith(".tmp.png")
    assert stat.S_IMODE(os.stat(tmp_path / "sub" / "grid.png").st_mode) == _usual_mode()


@pytest.mark.parametrize("error", [RuntimeError("disk on fire"), OSError(28, "No space left on device")])
def test_a_failure_mid_write_leaves_the_old_file_intact_and_no_temporary(tmp_path, error):
    target = tmp_path / "checkpoint.pt"
    target.write_bytes(b"old, complete")

    def write_half_then_fail(tmp: str) -> None:
        with open(tmp, "wb") as stream:
            stream.write(b"new, half")
        raise error

    with pytest.raises(type(error)):
        fileio.write_atomically(target, write_half_then_fail, sync_directory=True)
    assert target.read_bytes() == b"old, complete"
    assert _names(tmp_path) == ["checkpoint.pt"]
    with pytest.raises(type(error)):
        fileio.write_atomically(tmp_path / "new.pt", write_half_then_fail)
    assert _names(tmp_path) == ["checkpoint.pt"], "a failed first write leaves nothing behind"


def test_stale_temporary_cleanup_removes_only_our_own_temporary_names(tmp_path):
    ours = [
        os.path.basename(fileio.temporary_name(tmp_path / "grid-2.png")),  # what a killed writer leaves now
        ".checkpoint.pt.k2j_a9xz.tmp",  # what tempfile.mkstemp named them before
        ".stats.jsonl.0123abcd.tmp",
    ]
    others = [
        "grid.png",
        ".hidden-config",
        "notes.0123abcd.tmp.png",  # not hidden
        ".grid.png.0123abc.tmp.png",  # 7 characters, not 8
        ".grid.png.0123ABCD.tmp.png",  # upper case: not ours
        ".report.md.tmp",
        ".data.zip.partial",
    ]
    for name in ours + others:
        (tmp_path / name).write_text("x")
    (tmp_path / ".folder.0123abcd.tmp").mkdir()  # ours by name, but a folder is never a writer's temporary
    assert fileio.remove_stale_temporaries(tmp_path) == sorted(ours)
    assert _names(tmp_path) == sorted(others + [".folder.0123abcd.tmp"])
    assert fileio.remove_stale_temporaries(tmp_path / "missing") == []


def _log(path, count: int, **dumps) -> list[dict]:
    records = [{"tick": i + 1, "loss": 0.5 / (i + 1), "name": f"r{i}"} for i in range(count)]
    for record in records:
        fileio.append_jsonl(path, record, **dumps)
    return records


def test_append_and_read_jsonl_round_trip_and_ignore_a_cut_off_last_line(tmp_path):
    path = tmp_path / "run" / "stats.jsonl"
    records = _log(path, 3, sort_keys=True)
    assert path.read_text().splitlines()[0] == json.dumps(records[0], sort_keys=True)
    assert fileio.read_jsonl(path) == records
    with open(path, "a") as stream:
        stream.write('{"tick": 4, "lo')  # a crash mid-line
    assert fileio.read_jsonl(path) == records
    assert fileio.read_jsonl(tmp_path / "missing.jsonl") == []


@pytest.mark.parametrize("k", [0, 1, 3, 5])
def test_truncation_keeps_exactly_the_first_k_records_byte_for_byte(tmp_path, k):
    path = tmp_path / "stats.jsonl"
    records = _log(path, 5)
    lines = path.read_bytes().splitlines(keepends=True)
    with open(path, "a") as stream:
        stream.write('{"tick": 6, "lo')  # cut off by a crash: dropped as well
    os.chmod(path, 0o640)
    assert fileio.truncate_jsonl(path, lambda record: record["tick"] <= k) == k
    assert fileio.read_jsonl(path) == records[:k]
    assert path.read_bytes() == b"".join(lines[:k])
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640, "the log keeps its permissions"
    assert _names(tmp_path) == ["stats.jsonl"]


def test_truncation_stops_at_the_first_record_not_kept_and_leaves_a_complete_log_alone(tmp_path):
    path = tmp_path / "stats.jsonl"
    _log(path, 4)
    before = os.stat(path)
    assert fileio.truncate_jsonl(path, lambda record: True) == 4
    after = os.stat(path)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns), "nothing to drop: not rewritten"
    assert fileio.truncate_jsonl(path, lambda record: record["tick"] != 2) == 1, "a prefix, not a filter"
    assert [r["tick"] for r in fileio.read_jsonl(path)] == [1]
    assert fileio.truncate_jsonl(tmp_path / "missing.jsonl", lambda record: False) == 0
    assert _names(tmp_path) == ["stats.jsonl"]


def test_a_failed_truncation_leaves_the_log_intact(tmp_path, monkeypatch):
    path = tmp_path / "stats.jsonl"
    _log(path, 3)
    before = path.read_bytes()

    def write_half_then_fail(tmp, text, mode):
        with open(tmp, "w") as stream:
            stream.write(text[:5])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fileio, "_write_text", write_half_then_fail)
    with pytest.raises(OSError):
        fileio.truncate_jsonl(path, lambda record: record["tick"] <= 1)
    assert path.read_bytes() == before
    assert _names(tmp_path) == ["stats.jsonl"]
