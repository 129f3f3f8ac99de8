"""Fault injection around bulk roster files: the server stopping mid-import, signals
during export and import.  Each runs on a Prosody of its own, so stopping or loading it does not
disturb the shared session server (these are Prosody-only tests).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.helpers import User, run_subprocess
from tests.support import Contact, ProsodyServer, have, store_name
from xmppctl.roster.files import read_roster_file


def _start_prosody(directory: Path) -> ProsodyServer:
    if not have("prosody"):
        pytest.fail("prosody is not installed: run the README's test command (scripts/test), which installs it")
    return ProsodyServer(directory).start()


@pytest.fixture
def own_prosody(tmp_path):
    """A Prosody for one test: it may be stopped and started again on the same port and data."""
    server = _start_prosody(tmp_path / "prosody")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def big_roster_prosody(tmp_path_factory):
    server = _start_prosody(tmp_path_factory.mktemp("prosody-big"))
    yield server
    server.stop()


def stored_items(server: ProsodyServer, user: str) -> int:
    """Roster items in Prosody's storage file (rewritten whole on every roster set)."""
    path = server.data_dir / store_name(server.domain) / "roster" / f"{store_name(user)}.dat"
    try:
        return path.read_text(errors="replace").count("subscription")
    except FileNotFoundError:
        return 0


def popen_cli(user: User, *args: str) -> subprocess.Popen:
    env = dict(os.environ, XMPPCTL_PASSWORD=user.password)
    return subprocess.Popen([sys.executable, "-m", "xmppctl", *user.args, *args], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def roster_rows(user: User) -> dict[str, dict]:
    r = run_subprocess(user, "roster", "list", "-o", "json")
    assert r.code == 0, r.stderr
    return {row["jid"]: row for row in json.loads(r.stdout)}


def temp_files(directory: Path) -> list[Path]:
    return [p for p in directory.iterdir() if p.name.startswith(".") and p.name.endswith(".tmp")]


TOTAL = 400


def test_server_stopping_mid_import_reports_what_was_applied_and_a_rerun_completes_it(own_prosody, tmp_path):
    server = own_prosody
    server.register("importer", "importer-pw-1")
    user = User(server, "importer", "importer-pw-1")
    path = tmp_path / "big.csv"
    # Prosody's file storage rewrites the whole roster per set: 400 sets are long enough to stop
    # the server in the middle (at 100 stored) and cost a sixth of 1000
    path.write_text("jid,name,groups\n" + "".join(f"c{i:04d}@x.org,C{i},G{i % 7}\n" for i in range(TOTAL)))

    proc = popen_cli(user, "--timeout", "20", "roster", "import", str(path), "-o", "json")
    try:
        deadline = time.monotonic() + 60
        # part-way: the server has stored a good number of sets but is far from the end
        while stored_items(server, "importer") < 100:
            assert proc.poll() is None, proc.communicate()[1][-2000:]
            assert time.monotonic() < deadline, "the import did not get going"
            time.sleep(0.005)
        server.stop()
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode in (4, 7), err[-2000:]
    assert "Traceback" not in err
    error = json.loads(err.strip().splitlines()[-1])
    rows = json.loads(out) if out.strip() else []
    applied = {row["jid"] for row in rows if row["ok"]}
    assert 0 < len(applied) < TOTAL, "the stop came before or after the import, not in the middle"
    if proc.returncode == 7:
        assert error["error"] == "partial"
        assert re.match(rf"\d+ of {TOTAL} roster changes failed", error["message"]), error["message"]
        failed = {d["jid"] for d in error["details"]}
        assert failed and not failed & applied
        assert applied | failed == {f"c{i:04d}@x.org" for i in range(TOTAL)}

    server.start()  # same directory, same port: what was applied survived the stop
    after = roster_rows(user)
    assert applied <= set(after), "a set reported as applied is missing after the restart"

    rerun = run_subprocess(user, "roster", "import", str(path), "-o", "json")
    assert rerun.code == 0, rerun.stderr[-2000:]
    assert {row["jid"] for row in json.loads(rerun.stdout)} == {f"c{i:04d}@x.org" for i in range(TOTAL)} - set(after)
    final = roster_rows(user)
    assert [(j, final[j]["name"], final[j]["groups"]) for j in sorted(final)] == \
        [(f"c{i:04d}@x.org", f"C{i}", [f"G{i % 7}"]) for i in range(TOTAL)]


# ---- signals and output files ----------------------------------------------------------------

BIG = 20_000


@pytest.fixture(scope="module")
def big_user(big_roster_prosody):
    """A user with a roster large enough that writing its export takes a noticeable moment."""
    server = big_roster_prosody
    server.register("big", "big-pw-1")
    server.seed_roster("big", [Contact(f"b{i:05d}@x.org", f"B {i}", (f"G{i % 11}",), "both") for i in range(BIG)])
    return User(server, "big", "big-pw-1")


def signal_when(proc: subprocess.Popen, ready, signum: int, deadline_s: float = 60) -> bool:
    """Send *signum* as soon as ready() holds; False when the process ended first."""
    deadline = time.monotonic() + deadline_s
    while not ready():
        if proc.poll() is not None:
            return False
        assert time.monotonic() < deadline, "the moment to signal never came"
        time.sleep(0.001)  # leave the CPU to the child and the server (2 cores, shared)
    proc.send_signal(signum)
    return True


def logins(server: ProsodyServer, jid: str) -> int:
    """Successful logins of *jid* so far, from Prosody's log (info level)."""
    try:
        return (server.directory / "prosody.log").read_text(errors="replace").count(f"Authenticated as {jid}")
    except FileNotFoundError:
        return 0


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_while_the_export_is_written_leaves_no_temp_file_and_no_partial_file(big_user, tmp_path, signum):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    target = out_dir / "roster.toml"
    caught = 0
    for _attempt in range(5):  # the write lasts a moment: catch it while the temp file exists
        if target.exists():
            target.unlink()
        proc = popen_cli(big_user, "roster", "export", "-O", str(target))
        try:
            signalled = signal_when(proc, lambda: bool(temp_files(out_dir)), signum)
            _out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert temp_files(out_dir) == [], f"temp file left behind ({signal.Signals(signum).name}): {err[-500:]}"
        assert "Traceback" not in err
        if target.exists():  # the rename happened: the file is whole
            assert len(read_roster_file(str(target))) == BIG
            assert proc.returncode in (0, 130), err[-500:]
        else:
            assert signalled and proc.returncode == 130, err[-500:]
            caught += 1
            assert "interrupted" in err
        if caught:
            break
    assert caught, "never caught the export while it was writing (machine too fast for this check?)"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_while_the_roster_is_fetched_keeps_the_old_export_file(big_user, tmp_path, signum):
    target = tmp_path / "roster.json"
    target.write_text("[]\n")
    before = logins(big_user.server, big_user.jid)
    proc = popen_cli(big_user, "roster", "export", "-O", str(target))
    try:
        # logged in: the roster request follows at once, and 20 000 items take Prosody a while
        assert signal_when(proc, lambda: logins(big_user.server, big_user.jid) > before, signum), \
            "the export finished before the signal"
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err[-500:]
    assert "interrupted" in err and "Traceback" not in err
    assert target.read_text() == "[]\n"
    assert temp_files(tmp_path) == []


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_during_a_pruning_import_leaves_a_whole_backup_and_no_temp_file(big_roster_prosody, tmp_path, signum):
    server = big_roster_prosody
    name = f"pruner{signum}"
    server.register(name, "pruner-pw-1")
    user = User(server, name, "pruner-pw-1")
    server.seed_roster(name, [Contact(f"p{i:04d}@x.org", f"P{i}") for i in range(2000)])
    path = tmp_path / "keep.csv"
    path.write_text("jid,name,groups\np0000@x.org,P0,\n")
    proc = popen_cli(user, "roster", "import", str(path), "--prune", "--yes", "--window", "4")

    def pruning() -> bool:
        return list(tmp_path.glob("roster-backup-*")) != [] and stored_items(server, name) < 1990

    try:
        assert signal_when(proc, pruning, signum), "the import ended before the signal"
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err[-500:]
    assert "interrupted: applied" in err and "Traceback" not in err
    assert temp_files(tmp_path) == []
    [backup] = tmp_path.glob("roster-backup-*")
    assert len(read_roster_file(str(backup))) == 2000
