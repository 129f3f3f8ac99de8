"""Group operations as pure item rewrites: which sets, and what each rewritten item keeps."""

from __future__ import annotations

from xmppctl.roster.groups import KEEP, add_group, delete_group, edit_item, list_groups, members, remove_group, rename_group
from xmppctl.roster.items import RosterItem

A = RosterItem("a@x.org", "A", "both", False, ("Friends", "Work"))
B = RosterItem("b@x.org", None, "to", True, ("Work",))
C = RosterItem("c@x.org", "C", "none", False, ("Family",))
D = RosterItem("d@x.org", "D", "from", False, ())
ROSTER = [A, B, C, D]


def after(changes):
    return {c.jid: c.after for c in changes}


def test_list_groups_counts_members_sorted_by_name():
    assert [(g.name, g.count, g.members) for g in list_groups(ROSTER)] == [
        ("Family", 1, ("c@x.org",)), ("Friends", 1, ("a@x.org",)), ("Work", 2, ("a@x.org", "b@x.org"))]
    assert list_groups(ROSTER)[2].to_dict(True) == {"group": "Work", "count": 2, "members": ["a@x.org", "b@x.org"]}
    assert list_groups(ROSTER)[2].to_dict() == {"group": "Work", "count": 2}


def test_members_of_unknown_group_is_empty():
    assert [i.jid for i in members(ROSTER, "Work")] == ["a@x.org", "b@x.org"]
    assert members(ROSTER, "Nope") == []


def test_add_group_keeps_other_groups_and_name_and_skips_members_already_in_it():
    changes = add_group(ROSTER, "Friends", ["c@x.org", "a@x.org", "d@x.org"])
    assert [c.jid for c in changes] == ["c@x.org", "d@x.org"]
    assert after(changes)["c@x.org"] == RosterItem("c@x.org", "C", "none", False, ("Family", "Friends"))
    assert all(c.action == "update" for c in changes)


def test_add_group_ignores_jids_not_in_roster():
    assert add_group(ROSTER, "G", ["ghost@x.org"]) == []


def test_remove_group_keeps_contact_and_other_groups():
    [change] = remove_group(ROSTER, "Work", ["a@x.org", "c@x.org"])
    assert change.after == RosterItem("a@x.org", "A", "both", False, ("Friends",))
    assert change.fields() == [("groups", ["Friends", "Work"], ["Friends"])]


def test_rename_rewrites_every_member_and_keeps_other_groups():
    changes = rename_group(ROSTER, "Work", "Job")
    assert after(changes) == {"a@x.org": RosterItem("a@x.org", "A", "both", False, ("Friends", "Job")),
                              "b@x.org": RosterItem("b@x.org", None, "to", True, ("Job",))}


def test_rename_into_existing_group_merges_without_duplicates():
    changes = rename_group(ROSTER, "Friends", "Work")
    assert after(changes) == {"a@x.org": RosterItem("a@x.org", "A", "both", False, ("Work",))}


def test_delete_group_keeps_contacts():
    changes = delete_group(ROSTER, "Work")
    assert {c.action for c in changes} == {"update"}
    assert after(changes)["a@x.org"].groups == ("Friends",) and after(changes)["b@x.org"].groups == ()


def test_delete_group_with_remove_contacts_removes_only_members():
    changes = delete_group(ROSTER, "Work", remove_contacts=True)
    assert [(c.action, c.jid, c.after) for c in changes] == [("remove", "a@x.org", None), ("remove", "b@x.org", None)]


def test_unknown_group_plans_nothing():
    assert rename_group(ROSTER, "Nope", "X") == [] and delete_group(ROSTER, "Nope") == []


def test_edit_item_changes_only_what_is_asked():
    assert edit_item(A, name=KEEP) == A
    assert edit_item(A, name=None) == RosterItem("a@x.org", None, "both", False, ("Friends", "Work"))
    assert edit_item(A, add=("Zed",), remove=("Work",)).groups == ("Friends", "Zed")
    assert edit_item(A, groups=()).groups == () and edit_item(A, groups=()).name == "A"


def test_every_group_rewrite_keeps_what_other_clients_stored_on_the_item():
    from dataclasses import replace

    from xmppctl.roster.items import item_element

    extra = ("<ns0:color xmlns:ns0=\"urn:example:color\">teal</ns0:color>",)
    rich = replace(A, extra_children=extra, extra_attrs=(("weird", "w"),))
    roster = [rich, B, C, D]
    for changes in (add_group(roster, "New", ["a@x.org"]), remove_group(roster, "Work", ["a@x.org"]),
                    rename_group(roster, "Friends", "Pals"), delete_group(roster, "Friends")):
        [change] = [c for c in changes if c.jid == "a@x.org"]
        assert change.after.extra_children == extra and change.after.extra_attrs == (("weird", "w"),)
        el = item_element(change.after)
        assert el.find("{urn:example:color}color").text == "teal" and el.get("weird") == "w"
    for edited in (edit_item(rich, name="Other"), edit_item(rich, name=None), edit_item(rich, groups=["X"])):
        assert edited.extra_children == extra
