"""The completion cache that ``roster list`` leaves behind: written only when the roster changed."""

from __future__ import annotations

import json
import os

from xmppctl.cli.complete import roster_cache_path, save_roster_cache
from xmppctl.roster.items import RosterItem

ME = "me@example.org"
ROSTER = [RosterItem("alice@x.org", "Alice", groups=("Friends",)), RosterItem("bob@x.org", groups=("Work", "Ünïcode"))]


def _identity(path):
    st = path.stat()
    return st.st_ino, st.st_mtime_ns


def test_unchanged_roster_leaves_the_cache_file_alone():
    save_roster_cache(ME, ROSTER)
    path = roster_cache_path(ME)
    before = _identity(path)
    save_roster_cache(ME, list(ROSTER))
    assert _identity(path) == before  # not rewritten: same inode, same mtime


def test_changed_roster_rewrites_the_cache():
    save_roster_cache(ME, ROSTER)
    save_roster_cache(ME, ROSTER[:1])
    data = json.loads(roster_cache_path(ME).read_text("utf-8"))
    assert data == {"jid": ME, "items": [{"jid": "alice@x.org", "name": "Alice", "groups": ["Friends"]}]}


def test_cache_with_loose_permissions_is_rewritten_private():
    save_roster_cache(ME, ROSTER)
    path = roster_cache_path(ME)
    os.chmod(path, 0o644)
    save_roster_cache(ME, ROSTER)
    assert path.stat().st_mode & 0o777 == 0o600


def test_cache_keeps_non_ascii_as_utf8():
    save_roster_cache(ME, ROSTER)
    assert "Ünïcode" in roster_cache_path(ME).read_text("utf-8")
