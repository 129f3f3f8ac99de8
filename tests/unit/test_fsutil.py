"""atomic_write: the one way files are replaced (config, completion cache, exports, backups)."""

from __future__ import annotations

import stat

import pytest

from xmppctl.fsutil import atomic_write


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_new_file_is_private_and_holds_the_text(tmp_path):
    target = tmp_path / "f.txt"
    atomic_write(target, "line\r\nnext\n")
    assert target.read_bytes() == b"line\r\nnext\n" and mode(target) == 0o600


def test_writer_function_binary_and_explicit_mode(tmp_path):
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")
    atomic_write(target, lambda f: f.write(b"\x00new"), binary=True, mode=0o644, fsync=True)
    assert target.read_bytes() == b"\x00new" and mode(target) == 0o644


def test_a_failing_writer_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "f.txt"
    target.write_text("old")

    def half(f):
        f.write("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, half)
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_a_missing_directory_is_an_oserror(tmp_path):
    with pytest.raises(OSError):
        atomic_write(tmp_path / "no" / "f.txt", "x")
