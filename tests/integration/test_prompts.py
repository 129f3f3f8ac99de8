"""Confirmation prompts on a real terminal (a pseudo-terminal as stdin, stdout and stderr).

Every prompt goes through ``xmppctl.cli.prompt.confirm``: default no, Enter/"n"/Ctrl-D decline
and change nothing (exit 1), "y" goes ahead, Ctrl-C exits 130 at once without waiting for a line.
"""

from __future__ import annotations

import signal

import pytest

from tests.support.helpers import Terminal, roster_by_jid
from tests.support import Contact

SEED = [Contact("keep@x.org", "Keep", ("G",), "both"), Contact("drop1@x.org", "D1", ("Work",)),
        Contact("drop2@x.org", "D2", ("Work",))]
PROMPT = "[y/N]: "


@pytest.fixture
def seeded(make_user):
    user = make_user("tty")
    user.seed(SEED)
    return user


@pytest.fixture
def keep_file(tmp_path):
    path = tmp_path / "keep.toml"
    path.write_text('[[contact]]\njid = "keep@x.org"\nname = "Keep"\ngroups = ["G"]\n')
    return path


def test_import_prune_asks_and_n_changes_nothing(seeded, keep_file, run_cli):
    with Terminal(seeded, "roster", "import", str(keep_file), "--prune") as term:
        assert "Remove 2 contact(s) not in" in term.read_until(PROMPT)
        term.type("maybe\n")  # neither yes nor no: asked again
        term.read_until("Please answer y or n")
        term.type("n\n")
        r = term.finish()
    assert r.code == 1, r.stdout
    assert "aborted: nothing was changed" in r.stdout and "internal error" not in r.stdout
    assert sorted(roster_by_jid(run_cli, seeded)) == ["drop1@x.org", "drop2@x.org", "keep@x.org"]
    assert list(keep_file.parent.glob("roster-backup-*")) == []  # declined before the backup too


def test_import_prune_asks_and_y_removes(seeded, keep_file, run_cli):
    with Terminal(seeded, "roster", "import", str(keep_file), "--prune") as term:
        term.read_until(PROMPT)
        term.type("y\n")
        r = term.finish()
    assert r.code == 0, r.stdout
    assert sorted(roster_by_jid(run_cli, seeded)) == ["keep@x.org"]
    assert len(list(keep_file.parent.glob("roster-backup-*"))) == 1


def test_import_prune_end_of_input_at_the_prompt_declines(seeded, keep_file, run_cli):
    with Terminal(seeded, "roster", "import", str(keep_file), "--prune") as term:
        term.read_until(PROMPT)
        term.type("\x04")  # Ctrl-D
        r = term.finish()
    assert r.code == 1, r.stdout
    assert "aborted: nothing was changed" in r.stdout
    assert len(roster_by_jid(run_cli, seeded)) == 3


def test_ctrl_c_at_the_import_prompt_exits_130_without_waiting_for_a_line(seeded, keep_file, run_cli):
    with Terminal(seeded, "roster", "import", str(keep_file), "--prune") as term:
        term.read_until(PROMPT)
        term.type("\x03")  # the terminal turns it into SIGINT; no Enter follows
        r = term.finish()
    assert r.code == 130, r.stdout
    assert "interrupted" in r.stdout and "Traceback" not in r.stdout
    assert len(roster_by_jid(run_cli, seeded)) == 3
    assert list(keep_file.parent.glob("roster-backup-*")) == []


def test_group_delete_prompt_uses_the_same_answers(seeded, run_cli):
    with Terminal(seeded, "group", "delete", "Work", "--remove-contacts") as term:
        assert "Remove 2 contact(s) in 'Work'" in term.read_until(PROMPT)
        term.type("\n")  # Enter: the default, no
        r = term.finish()
    assert r.code == 1 and "aborted: nothing was changed" in r.stdout, r.stdout
    assert len(roster_by_jid(run_cli, seeded)) == 3


def test_sigint_at_the_group_delete_prompt_exits_130_at_once(seeded, run_cli):
    with Terminal(seeded, "group", "delete", "Work", "--remove-contacts") as term:
        term.read_until(PROMPT)
        term.proc.send_signal(signal.SIGINT)
        r = term.finish()
    assert r.code == 130, r.stdout
    assert "interrupted" in r.stdout and "Traceback" not in r.stdout
    assert len(roster_by_jid(run_cli, seeded)) == 3
