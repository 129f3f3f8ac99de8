"""roster export / import / diff against a real Prosody."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from tests.support.helpers import run_subprocess
from tests.support import Contact

SEED = [
    Contact("ann@x.org", "Ann Åberg", ("Friends", "Work, Inc"), "both"),
    Contact("bob@x.org", None, (), "to", True),
    Contact("cy@x.org", 'Cy "the" \\ Guy', ("Ünïcode",), "from"),
]


def roster(run_cli, user) -> list[dict]:
    r = run_cli(user, "roster", "list", "-o", "json")
    assert r.code == 0, r.stderr
    return r.json()


def names_and_groups(rows: list[dict]) -> list[tuple]:
    return [(row["jid"], row["name"], row["groups"]) for row in rows]


@pytest.mark.parametrize("fmt", ["toml", "json", "csv"])
def test_export_then_import_into_an_empty_account_gives_the_same_names_and_groups(run_cli, make_user, tmp_path, fmt):
    source, target = make_user("src"), make_user("dst")
    source.seed(SEED)
    path = tmp_path / f"export.{fmt}"
    r = run_cli(source, "roster", "export", "-O", str(path))
    assert r.code == 0, r.stderr
    assert str(path) in r.stderr
    r = run_cli(target, "roster", "import", str(path), "-o", "json")
    assert r.code == 0, r.stderr
    assert {row["action"] for row in r.json()} == {"add"} and len(r.json()) == 3
    assert names_and_groups(roster(run_cli, target)) == names_and_groups(roster(run_cli, source))


def test_export_to_stdout_carries_subscription_state_for_information(run_cli, make_user):
    user = make_user()
    user.seed(SEED)
    r = run_cli(user, "roster", "export", "-f", "json")
    assert r.code == 0, r.stderr
    by_jid = {row["jid"]: row for row in r.json()}
    assert by_jid["bob@x.org"]["subscription"] == "to" and by_jid["bob@x.org"]["ask"] is True


def test_second_identical_import_sends_nothing(run_cli, make_user, tmp_path):
    user = make_user()
    path = tmp_path / "r.toml"
    path.write_text('[[contact]]\njid = "a@x.org"\nname = "A"\ngroups = ["G"]\n\n[[contact]]\njid = "b@x.org"\n')
    first = run_cli(user, "roster", "import", str(path), "-o", "json")
    assert first.code == 0 and len(first.json()) == 2
    assert first.stderr == ""  # no progress bar when stderr is not a terminal
    assert run_cli(user, "roster", "import", str(path), "--dry-run", "-o", "json").json() == []
    second = run_cli(user, "roster", "import", str(path), "-o", "json")
    assert second.code == 0 and second.json() == []  # one row per roster set sent: none
    assert run_cli(user, "roster", "diff", str(path), "--exit-code").code == 0


def test_import_updates_only_what_differs_and_keeps_the_subscription(run_cli, make_user, tmp_path):
    user = make_user()
    user.seed(SEED)
    path = tmp_path / "r.json"
    path.write_text(json.dumps([
        {"jid": "ann@x.org", "name": "Ann Åberg", "groups": ["Friends", "Work, Inc"]},  # unchanged
        {"jid": "bob@x.org", "name": "Bob", "groups": []},
        {"jid": "new@x.org", "groups": ["New"]},
    ]))
    r = run_cli(user, "roster", "import", str(path), "-o", "json")
    assert r.code == 0, r.stderr
    assert sorted((row["action"], row["jid"]) for row in r.json()) == [("add", "new@x.org"), ("update", "bob@x.org")]
    after = {row["jid"]: row for row in roster(run_cli, user)}
    assert after["bob@x.org"]["name"] == "Bob" and after["bob@x.org"]["subscription"] == "to"
    assert "cy@x.org" in after  # never removed without --prune


def test_groups_only_and_names_only_leave_the_other_field_alone(run_cli, make_user, tmp_path):
    user = make_user()
    user.seed([Contact("a@x.org", "Old", ("OldG",))])
    path = tmp_path / "r.csv"
    path.write_text("jid,name,groups\na@x.org,New,NewG\n")
    r = run_cli(user, "roster", "diff", str(path), "--groups-only", "-o", "json")
    assert r.json()[0]["changes"] == [{"field": "groups", "old": ["OldG"], "new": ["NewG"]}]
    r = run_cli(user, "roster", "import", str(path), "--names-only", "-o", "json")
    assert r.code == 0, r.stderr
    assert names_and_groups(roster(run_cli, user)) == [("a@x.org", "New", ["OldG"])]
    assert run_cli(user, "roster", "import", str(path), "--names-only", "--groups-only").code == 2


def test_prune_needs_yes_off_a_terminal_and_writes_a_backup_first(run_cli, make_user, tmp_path):
    user = make_user()
    user.seed(SEED)
    path = tmp_path / "keep.toml"
    path.write_text('[[contact]]\njid = "ann@x.org"\nname = "Ann Åberg"\ngroups = ["Friends", "Work, Inc"]\n')
    refused = run_cli(user, "roster", "import", str(path), "--prune")
    assert refused.code == 2 and "--yes" in refused.stderr
    assert len(roster(run_cli, user)) == 3
    assert list(tmp_path.glob("roster-backup-*")) == []

    r = run_cli(user, "roster", "import", str(path), "--prune", "--yes", "-o", "json")
    assert r.code == 0, r.stderr
    assert sorted((row["action"], row["jid"]) for row in r.json()) == [("remove", "bob@x.org"), ("remove", "cy@x.org")]
    assert [row["jid"] for row in roster(run_cli, user)] == ["ann@x.org"]
    [backup] = tmp_path.glob(f"roster-backup-{user.jid}-*.toml")
    assert str(backup) in r.stderr
    # the backup restores what was pruned
    restore = run_cli(user, "roster", "import", str(backup), "-o", "json")
    assert restore.code == 0, restore.stderr
    assert [row["jid"] for row in roster(run_cli, user)] == ["ann@x.org", "bob@x.org", "cy@x.org"]


def test_diff_prints_field_by_field_and_exits_10_on_drift_only_with_exit_code(run_cli, make_user, tmp_path):
    user = make_user()
    user.seed([Contact("a@x.org", "A", ("G",)), Contact("gone@x.org")])
    path = tmp_path / "r.toml"
    path.write_text('[[contact]]\njid = "a@x.org"\nname = "A2"\ngroups = ["G"]\n\n[[contact]]\njid = "n@x.org"\n')
    assert run_cli(user, "roster", "diff", str(path)).code == 0
    r = run_cli(user, "roster", "diff", str(path), "--exit-code", "--prune", "-o", "json")
    assert r.code == 10
    assert r.error()["error"] == "drift"
    rows = {row["jid"]: row for row in r.json()}
    assert rows["a@x.org"]["action"] == "update"
    assert rows["a@x.org"]["changes"] == [{"field": "name", "old": "A", "new": "A2"}]
    assert rows["n@x.org"]["action"] == "add" and rows["gone@x.org"]["action"] == "remove"
    table = run_cli(user, "roster", "diff", str(path))
    assert "name: A -> A2" in table.stdout
    # diff sends nothing
    assert names_and_groups(roster(run_cli, user)) == [("a@x.org", "A", ["G"]), ("gone@x.org", None, [])]


def test_partial_failure_exits_7_lists_the_failed_items_and_applies_the_rest(run_cli, make_user, tmp_path):
    user = make_user()
    path = tmp_path / "r.csv"
    # An item the server refuses after our checks passed: Prosody refuses one for the account itself
    # (not-allowed); ejabberd, unlike Prosody, refuses code points stringprep's Unicode 3.2 does not
    # assign (an emoji).  (U+FFFD, used before, is refused by nodeprep locally now: exit 2.)
    bad = user.jid if user.server.kind == "prosody" else "bad\U0001F600x@x.org"
    path.write_text(f"jid,name,groups\nok1@x.org,One,\n{bad},Me,\nok2@x.org,Two,G\n")
    r = run_cli(user, "roster", "import", str(path))
    assert r.code == 7
    assert f"1 of 3 roster changes failed: {bad} (" in r.stderr
    assert [row["jid"] for row in roster(run_cli, user)] == ["ok1@x.org", "ok2@x.org"]
    r = run_cli(user, "roster", "import", str(path), "-o", "json")
    assert r.code == 6  # only the failing one is left to send
    error = r.error()
    assert error["condition"] in ("bad-request", "jid-malformed", "not-allowed") and error["details"][0]["jid"] == bad


@pytest.mark.parametrize("name,text,expected", [
    ("bad.toml", '[[contact]]\njid = "a@x.org"\n[[contact]]\njid = "a b@x.org"\n', "bad.toml:4: jid"),
    ("bad.json", '[{"jid": "a@x.org", "groups": "G"}]', "bad.json: item [0]: groups"),
    ("bad.csv", "jid,name,groups\na@x.org,A,G\na@x.org,B,\n", "bad.csv:3: jid: duplicate JID"),
    ("bad2.csv", "jid,name,groups\na@x.org,A,;\n", "bad2.csv:2: groups: empty group name"),
])
def test_malformed_files_exit_2_before_anything_is_sent(run_cli, make_user, tmp_path, name, text, expected):
    user = make_user()
    user.seed([Contact("keep@x.org", "K")])
    path = tmp_path / name
    path.write_text(text)
    r = run_cli(user, "roster", "import", str(path), "--prune", "--yes")
    assert r.code == 2 and expected in r.stderr
    assert names_and_groups(roster(run_cli, user)) == [("keep@x.org", "K", [])]
    # validated before login: an unreachable server makes no difference
    r = run_cli(None, "--jid", user.jid, "--server", "127.0.0.1", "--port", "1", "roster", "diff", str(path))
    assert r.code == 2 and expected in r.stderr


def test_import_reads_standard_input(run_cli, make_user):
    user = make_user()
    r = run_cli(user, "roster", "import", "-", "-o", "json", stdin="jid,name,groups\ns@x.org,S,G\n")
    assert r.code == 0, r.stderr
    assert names_and_groups(roster(run_cli, user)) == [("s@x.org", "S", ["G"])]


def test_subscribe_asks_new_contacts_only(run_cli, make_user, tmp_path):
    user, friend, known = make_user(), make_user("friend"), make_user("known")
    user.seed([Contact(known.jid, "Known")])
    path = tmp_path / "r.toml"
    path.write_text(f'[[contact]]\njid = "{friend.jid}"\n\n[[contact]]\njid = "{known.jid}"\nname = "Known"\n')
    assert run_cli(user, "roster", "import", str(path), "--subscribe", "--rate", "0/s").code == 2
    r = run_cli(user, "roster", "import", str(path), "--subscribe", "--rate", "50/s", "-o", "json")
    assert r.code == 0, r.stderr
    assert [(row["action"], row["jid"]) for row in r.json()] == [("add", friend.jid), ("subscribe", friend.jid)]
    after = {row["jid"]: row for row in roster(run_cli, user)}
    assert after[friend.jid]["ask"] is True and after[known.jid]["ask"] is False


def test_ctrl_c_during_import_exits_130_and_says_what_was_applied(make_user, tmp_path):
    """stderr is a terminal here, so the progress bar shows; ^C comes once sets are applied."""
    import pty

    user = make_user()
    path = tmp_path / "big.csv"
    path.write_text("jid,name,groups\n" + "".join(f"c{i:04d}@x.org,C{i},G{i % 7}\n" for i in range(1500)))
    env = dict(os.environ, XMPPCTL_PASSWORD=user.password)
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "xmppctl", *user.args, "roster", "import", str(path), "--window", "4"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave, env=env)
    os.close(slave)
    err = ""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not re.search(r"\] [1-9]\d*/1500 roster sets", err):
        try:
            err += os.read(master, 4096).decode(errors="replace")
        except OSError:  # EIO: the child closed the terminal (it exited)
            break
    proc.send_signal(signal.SIGINT)
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        err += chunk.decode(errors="replace")
    os.close(master)
    proc.wait(timeout=30)
    assert proc.returncode == 130, err
    assert re.search(r"\[#*\.*\] \d+/1500 roster sets", err)
    match = re.search(r"interrupted: applied (\d+) of 1500 roster changes", err)
    assert match, err
    now = json.loads(run_subprocess(user, "roster", "list", "-o", "json").stdout)
    assert int(match.group(1)) <= len(now) < 1500
