"""Guards against losing contacts to a truncated or wrong file: `roster import --prune`
with an empty file (--allow-empty) and --max-remove, on the real servers."""

from __future__ import annotations

import pytest

from tests.support.helpers import roster_by_jid
from tests.support import Contact

SEED = [Contact("keep@x.org", "Keep", ("G",), "both"), Contact("drop1@x.org", "D1"), Contact("drop2@x.org", "D2")]
KEEP = '[[contact]]\njid = "keep@x.org"\nname = "Keep"\ngroups = ["G"]\n'


@pytest.fixture
def seeded(make_user):
    user = make_user("guard")
    user.seed(SEED)
    return user


def unchanged(run_cli, user, directory) -> bool:
    """Nothing was sent: the seeded roster is intact and no backup was written."""
    return (sorted(roster_by_jid(run_cli, user)) == ["drop1@x.org", "drop2@x.org", "keep@x.org"]
            and list(directory.glob("roster-backup-*")) == [])


@pytest.mark.parametrize("name,text", [("empty.toml", ""), ("empty.json", "[]"), ("empty.csv", "jid,name,groups\n"),
                                       ("nocontacts.toml", "# nothing here\n")])
def test_prune_with_a_file_without_contacts_is_refused_before_login(run_cli, seeded, tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    for extra in ((), ("--dry-run",)):
        r = run_cli(seeded, "roster", "import", str(path), "--prune", "--yes", *extra)
        assert r.code == 2, r.stderr
        assert f"{path}: no contacts" in r.stderr and "--allow-empty" in r.stderr
    assert unchanged(run_cli, seeded, tmp_path)
    # before login: an unreachable server makes no difference
    r = run_cli(None, "--jid", seeded.jid, "--server", "127.0.0.1", "--port", "1",
                "roster", "import", str(path), "--prune", "--yes", env={"XMPPCTL_PASSWORD": "x"})
    assert r.code == 2 and "no contacts" in r.stderr, r.stderr


def test_empty_standard_input_with_prune_is_refused(run_cli, seeded, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where a backup of '-' would go
    r = run_cli(seeded, "roster", "import", "-", "-f", "csv", "--prune", "--yes", stdin="")
    assert r.code == 2 and "<stdin>: no contacts" in r.stderr, r.stderr
    assert unchanged(run_cli, seeded, tmp_path)


def test_an_empty_file_without_prune_changes_nothing_and_is_fine(run_cli, seeded, tmp_path):
    path = tmp_path / "empty.toml"
    path.write_text("")
    r = run_cli(seeded, "roster", "import", str(path), "-o", "json")
    assert r.code == 0 and r.json() == [], r.stderr
    assert unchanged(run_cli, seeded, tmp_path)


def test_allow_empty_prunes_every_contact_after_a_backup(run_cli, seeded, tmp_path):
    path = tmp_path / "empty.toml"
    path.write_text("")
    r = run_cli(seeded, "roster", "import", str(path), "--prune", "--yes", "--allow-empty", "-o", "json")
    assert r.code == 0, r.stderr
    assert sorted(row["jid"] for row in r.json() if row["action"] == "remove") == \
        ["drop1@x.org", "drop2@x.org", "keep@x.org"]
    assert roster_by_jid(run_cli, seeded) == {}
    assert len(list(tmp_path.glob("roster-backup-*"))) == 1


def test_max_remove_refuses_a_plan_that_removes_more_and_sends_nothing(run_cli, seeded, tmp_path):
    path = tmp_path / "keep.toml"
    path.write_text(KEEP + '\n[[contact]]\njid = "new@x.org"\n')  # one add, two removes
    for extra in ((), ("--dry-run",)):
        r = run_cli(seeded, "roster", "import", str(path), "--prune", "--yes", "--max-remove", "1", "-o", "json", *extra)
        assert r.code == 2, r.stderr
        error = r.error()
        assert error["error"] == "usage" and error["details"] == {"remove": 2, "max_remove": 1}
        assert "would remove 2 contact(s), more than --max-remove 1" in error["message"]
        assert r.stdout == ""
    assert unchanged(run_cli, seeded, tmp_path)  # not even the add was sent

    r = run_cli(seeded, "roster", "import", str(path), "--prune", "--yes", "--max-remove", "2", "-o", "json")
    assert r.code == 0, r.stderr
    assert sorted(roster_by_jid(run_cli, seeded)) == ["keep@x.org", "new@x.org"]


def test_max_remove_also_caps_an_allowed_empty_file(run_cli, seeded, tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("jid,name,groups\n")
    r = run_cli(seeded, "roster", "import", str(path), "--prune", "--yes", "--allow-empty", "--max-remove", "0")
    assert r.code == 2 and "would remove 3 contact(s), more than --max-remove 0" in r.stderr, r.stderr
    assert unchanged(run_cli, seeded, tmp_path)
    assert run_cli(seeded, "roster", "import", str(path), "--max-remove", "-1").code == 2
