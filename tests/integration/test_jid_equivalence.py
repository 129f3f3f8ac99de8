"""A JID the server takes for an existing contact is that contact for diff and import --prune
too: invisible characters and compatibility forms are mapped the way the server maps them."""

from __future__ import annotations

from tests.support import Contact

SEED = [
    Contact("bob@example.org", "Bob", ("Friends",), "both"),
    Contact("carol@example.org", "Carol", (), "both"),
    Contact("dan@example.org", None, (), "to"),
]
# zero-width space (B.1), fullwidth c (NFKC), soft hyphen + capitals (B.1, B.2), BOM in the domain's
# neighbour and a fullwidth full stop between labels
FILE = """
[[contact]]
jid = "b\\u200bob@example.org"
name = "Bob"
groups = ["Friends"]

[[contact]]
jid = "\\uff43arol@example.org"
name = "Carol"

[[contact]]
jid = "D\\u00adan\\ufeff@EXAMPLE\\uff0eorg"
"""


def test_diff_and_prune_keep_contacts_the_file_names_in_another_form(run_cli, make_user, tmp_path):
    user = make_user()
    user.seed(SEED)
    path = tmp_path / "roster.toml"
    path.write_text(FILE, encoding="utf-8")
    r = run_cli(user, "roster", "diff", str(path), "--prune", "--exit-code", "-o", "json")
    assert r.code == 0, (r.stdout, r.stderr)
    assert r.json() == []
    r = run_cli(user, "roster", "import", str(path), "--prune", "--yes", "-o", "json")
    assert r.code == 0, r.stderr
    assert r.json() == []  # nothing removed, nothing re-added
    rows = {row["jid"]: row for row in run_cli(user, "roster", "list", "-o", "json").json()}
    assert {j: rows[j]["subscription"] for j in rows} == {"bob@example.org": "both", "carol@example.org": "both",
                                                         "dan@example.org": "to"}


def test_a_contact_added_in_a_compatibility_form_is_stored_as_the_server_stores_it(run_cli, make_user):
    user = make_user()
    r = run_cli(user, "roster", "add", "\uff24\u200bave@Example.org")
    assert r.code == 0, r.stderr
    assert [row["jid"] for row in run_cli(user, "roster", "list", "-o", "json").json()] == ["dave@example.org"]
    assert run_cli(user, "roster", "remove", "dave\u00ad@example.org").code == 0
    assert run_cli(user, "roster", "list", "-o", "json").json() == []
