"""Two runs changing one account on a real server: the second does not interleave with the first."""

from __future__ import annotations

from tests.support.helpers import Terminal, roster_by_jid
from tests.support import Contact

SEED = [Contact("keep@x.org", "Keep", ("G",), "both"), Contact("drop@x.org", "D", ("Work",), "both")]


def test_a_second_import_while_the_first_waits_at_its_prompt_fails_naming_it(make_user, run_cli, tmp_path):
    user = make_user("lock")
    user.seed(SEED)
    first_file, second_file = tmp_path / "first.toml", tmp_path / "second.toml"
    first_file.write_text('[[contact]]\njid = "keep@x.org"\nname = "Keep"\ngroups = ["G"]\n')
    second_file.write_text('[[contact]]\njid = "other@x.org"\n')
    with Terminal(user, "roster", "import", str(first_file), "--prune") as term:
        term.read_until("[y/N]: ")  # the first run has read the roster and holds the account lock
        r = run_cli(user, "roster", "import", str(second_file), "--prune", "--yes")
        assert r.code == 1, r.stderr
        assert f"PID {term.proc.pid} (" in r.stderr and "roster import" in r.stderr and "nothing was sent" in r.stderr
        assert run_cli(user, "roster", "diff", str(second_file), "-o", "json").code == 0  # read-only: no lock
        assert sorted(roster_by_jid(run_cli, user)) == ["drop@x.org", "keep@x.org"]
        term.type("y\n")
        assert term.finish().code == 0
    assert sorted(roster_by_jid(run_cli, user)) == ["keep@x.org"]
    r = run_cli(user, "roster", "import", str(second_file), "--prune", "--yes")  # the lock is free again
    assert r.code == 0, r.stderr
    assert sorted(roster_by_jid(run_cli, user)) == ["other@x.org"]
