"""roster list against a real Prosody: content, every output format, filters."""

from __future__ import annotations

import csv
import io
import json

from tests.support import Contact

SEED = [
    Contact("bob@localhost", "Bob", ("Friends", "Work"), "both"),
    Contact("carol@example.org", None, (), "none", ask=True),
    Contact("dave@example.org", "Dave", ("Work",), "to"),
    Contact("erin@example.net", "Erin Ü", ("Family",), "from"),
]


def test_list_empty_roster_json_is_empty_list(make_user, run_cli):
    user = make_user()
    r = run_cli(user, "roster", "list", "-o", "json")
    assert r.code == 0, r.stderr
    assert r.json() == []


def test_list_empty_roster_table_prints_nothing(make_user, run_cli):
    r = run_cli(make_user(), "roster", "list", "-o", "table")
    assert (r.code, r.stdout) == (0, "")


def test_list_seeded_roster_json_has_items_with_groups(make_user, run_cli):
    user = make_user()
    user.seed(SEED)
    r = run_cli(user, "roster", "list", "-o", "json")
    assert r.code == 0, r.stderr
    assert r.json() == [
        {"jid": "bob@localhost", "name": "Bob", "subscription": "both", "ask": False, "groups": ["Friends", "Work"]},
        {"jid": "carol@example.org", "name": None, "subscription": "none", "ask": True, "groups": []},
        {"jid": "dave@example.org", "name": "Dave", "subscription": "to", "ask": False, "groups": ["Work"]},
        {"jid": "erin@example.net", "name": "Erin Ü", "subscription": "from", "ask": False, "groups": ["Family"]},
    ]


def test_list_ndjson_one_object_per_line(make_user, run_cli):
    user = make_user()
    user.seed(SEED)
    r = run_cli(user, "roster", "list", "-o", "ndjson")
    lines = r.stdout.splitlines()
    assert [json.loads(line)["jid"] for line in lines] == [c.jid for c in SEED]


def test_list_csv_has_header_and_semicolon_groups(make_user, run_cli):
    user = make_user()
    user.seed(SEED)
    r = run_cli(user, "roster", "list", "-o", "csv")
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert list(rows[0]) == ["jid", "name", "subscription", "ask", "groups"]
    assert rows[0]["groups"] == "Friends;Work"
    assert rows[1]["ask"] == "true" and rows[1]["name"] == ""


def test_list_table_has_header_and_rows(make_user, run_cli):
    user = make_user()
    user.seed(SEED)
    r = run_cli(user, "roster", "list", "-o", "table")
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["jid", "name", "subscription", "ask", "groups"]
    assert "bob@localhost" in lines[2] and "Friends, Work" in lines[2]
    assert len(lines) == 2 + len(SEED)


def test_filter_by_group_is_any_of(make_user, run_cli):
    user = make_user()
    user.seed(SEED)
    r = run_cli(user, "roster", "list", "-o", "json", "--group", "Work")
    assert [i["jid"] for i in r.json()] == ["bob@localhost", "dave@example.org"]
    r = run_cli(user, "roster", "list", "-o", "json", "-g", "Family", "-g", "Friends")
    assert [i["jid"] for i in r.json()] == ["bob@localhost", "erin@example.net"]


def test_filter_subscription_pending_ungrouped(make_user, run_cli):
    user = make_user()
    user.seed(SEED)
    assert [i["jid"] for i in run_cli(user, "roster", "list", "-o", "json", "--subscription", "to").json()] == ["dave@example.org"]
    assert [i["jid"] for i in run_cli(user, "roster", "list", "-o", "json", "--pending").json()] == ["carol@example.org"]
    assert [i["jid"] for i in run_cli(user, "roster", "list", "-o", "json", "--ungrouped").json()] == ["carol@example.org"]


def test_default_output_follows_account_config_when_not_a_tty(make_user, run_cli, tmp_path):
    user = make_user()
    user.seed(SEED[:1])
    config = tmp_path / "config.toml"
    config.write_text(
        f'[accounts.t]\njid = "{user.jid}"\nserver = "127.0.0.1"\nport = {user.server.port}\n'
        f'ca_file = "{user.server.ca_file}"\noutput = "ndjson"\n'
    )
    r = run_cli(None, "--config", str(config), "roster", "list", env={"XMPPCTL_PASSWORD": user.password})
    assert r.code == 0, r.stderr
    assert json.loads(r.stdout)["jid"] == "bob@localhost"


def test_two_concurrent_sessions_of_one_account_both_succeed(make_user):
    import subprocess
    import sys
    import os

    user = make_user()
    user.seed(SEED)
    env = dict(os.environ, XMPPCTL_PASSWORD=user.password)
    argv = [sys.executable, "-m", "xmppctl", *user.args, "roster", "list", "-o", "json"]
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in range(3)]
    outs = [p.communicate(timeout=30) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [o[1] for o in outs]
    assert all(len(json.loads(o[0])) == len(SEED) for o in outs)
