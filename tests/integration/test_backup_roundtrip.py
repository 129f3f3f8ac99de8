"""What `roster export` writes, `roster import` reads back: text other clients stored on the
server passes the file reader when XML can carry it (the --prune backup must be restorable)."""

from __future__ import annotations

import pytest

from tests.support import Contact

HOSTILE = [
    Contact("long@x.org", "é" * 750, ("Friends",), "both"),  # 1500 bytes of UTF-8
    Contact("lines@x.org", "first line\nsecond line", ("a\tb",), "to"),
    Contact("tab@x.org", "\tindented\t", ("   ",), "none"),  # a whitespace-only group
    Contact("c1@x.org", "csi \x9b31m and del \x7f", (" padded ", "\u202eevil"), "from"),
]


@pytest.mark.parametrize("fmt", ["toml", "json", "xml"])  # xml: XEP-0227
def test_an_export_of_hostile_names_imports_back_unchanged(run_cli, make_user, tmp_path, fmt):
    source, target = make_user("src"), make_user("dst")
    source.seed(HOSTILE)
    before = run_cli(source, "roster", "list", "-o", "json").json()
    names = {row["name"] for row in before}
    assert {"é" * 750, HOSTILE[3].name} <= names and ["   "] in [row["groups"] for row in before]
    if source.server.kind == "ejabberd":  # it escapes LF and tab in attributes; Prosody 0.12 writes
        # them raw, so a parser reads them as spaces: the newline is not kept there in any client
        assert names == {c.name for c in HOSTILE}
    path = tmp_path / f"backup.{fmt}"
    r = run_cli(source, "roster", "export", "-O", str(path))
    assert r.code == 0, r.stderr
    r = run_cli(target, "roster", "import", str(path), "-o", "json")
    assert r.code == 0, r.stderr
    after = run_cli(target, "roster", "list", "-o", "json").json()
    assert [(x["jid"], x["name"], x["groups"]) for x in after] == [(x["jid"], x["name"], x["groups"]) for x in before]
    # and the file is in sync with the account it came from: a --prune run would change nothing
    r = run_cli(source, "roster", "diff", str(path), "--prune", "--exit-code", "-o", "json")
    assert r.code == 0 and r.json() == [], r.stdout
