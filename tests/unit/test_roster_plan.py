"""The pure roster plan: what sets turn the current roster into the desired one."""

from __future__ import annotations

import pytest

from xmppctl.errors import UsageError
from xmppctl.roster.items import RosterItem, item_element, plan_roster, remove_element
from xmppctl.text import validate_group, validate_groups, validate_name

A = RosterItem("a@x.org", "A", "both", False, ("Friends",))
B = RosterItem("b@x.org", None, "to", True, ())
C = RosterItem("c@x.org", "C", "none", False, ("Work", "Friends"))


def test_identical_roster_has_no_changes():
    plan = plan_roster([A, B], [RosterItem("a@x.org", "A", groups=("Friends",)), RosterItem("b@x.org")])
    assert plan.changes == [] and plan.unchanged == 2 and not plan.drift


def test_new_contact_is_added_with_name_and_groups():
    plan = plan_roster([A], [RosterItem("a@x.org", "A", groups=("Friends",)), RosterItem("n@x.org", "N", groups=("G",))])
    [change] = plan.changes
    assert (change.action, change.jid, change.after.name, change.after.groups) == ("add", "n@x.org", "N", ("G",))


def test_update_lists_changed_fields_only_and_keeps_subscription():
    plan = plan_roster([A], [RosterItem("a@x.org", "A", groups=("Family",))])
    [change] = plan.changes
    assert change.action == "update"
    assert change.fields() == [("groups", ["Friends"], ["Family"])]
    assert change.after.subscription == "both" and change.after.ask is False


def test_missing_contacts_removed_only_with_prune():
    assert plan_roster([A, B], [RosterItem("a@x.org", "A", groups=("Friends",))]).changes == []
    plan = plan_roster([A, B], [RosterItem("a@x.org", "A", groups=("Friends",))], prune=True)
    assert [(c.action, c.jid) for c in plan.changes] == [("remove", "b@x.org")]


def test_names_only_keeps_groups_and_groups_only_keeps_names():
    desired = [RosterItem("c@x.org", "New C", groups=("Other",))]
    [ch] = plan_roster([C], desired, groups=False).changes
    assert (ch.after.name, ch.after.groups) == ("New C", ("Work", "Friends"))
    [ch] = plan_roster([C], desired, names=False).changes
    assert (ch.after.name, ch.after.groups) == ("C", ("Other",))


def test_groups_only_new_contact_has_no_name():
    [ch] = plan_roster([], [RosterItem("n@x.org", "N", groups=("G",))], names=False).changes
    assert ch.after.name is None and ch.after.groups == ("G",)


def test_changes_sorted_by_jid_and_counted():
    plan = plan_roster([C, A], [RosterItem("z@x.org"), RosterItem("c@x.org", "C2", groups=C.groups)], prune=True)
    assert [c.jid for c in plan.changes] == ["a@x.org", "c@x.org", "z@x.org"]
    assert plan.counts() == {"add": 1, "update": 1, "remove": 1, "unchanged": 0}


def test_item_element_never_carries_ask_or_subscription():
    el = item_element(RosterItem("b@x.org", "B", "both", True, ("G2", "G1", "G1")))
    assert el.get("ask") is None and el.get("subscription") is None and el.get("approved") is None
    assert [g.text for g in el] == ["G1", "G2"] and el.get("name") == "B"
    assert remove_element("b@x.org").get("subscription") == "remove"


def test_item_without_name_has_no_name_attribute():
    assert item_element(RosterItem("b@x.org")).get("name") is None


@pytest.mark.parametrize("bad", ["", "   ", "a\nb", "x" * 1024])
def test_bad_group_names_rejected(bad):
    with pytest.raises(UsageError):
        validate_group(bad)


def test_groups_deduplicated_and_sorted():
    assert validate_groups(["b", "a", "b"]) == ("a", "b")


def test_name_validation():
    assert validate_name("") is None and validate_name("Bob") == "Bob"
    with pytest.raises(UsageError):
        validate_name("bad\x00name")


# ---- what other clients stored on an item is kept --------------------------------------------

FOREIGN = "urn:example:color"
ITEM_XML = (f"<item xmlns='jabber:iq:roster' jid='e@x.org' name='E' subscription='both' ask='subscribe' "
            f"approved='true' xmlns:c='{FOREIGN}' c:mark='1' weird='w'>\n"
            f"  <group>G</group>\n  <c:color shade='dark'>teal<c:inner/></c:color>\n  <note>roster-ns child</note>\n</item>")


def _parsed():
    import xml.etree.ElementTree as ET

    from xmppctl.roster.items import parse_item

    return parse_item(ET.fromstring(ITEM_XML))


def _children(el):
    return [(child.tag, child.attrib, child.text, [g.tag for g in child]) for child in el]


def test_parse_item_keeps_unknown_children_and_attributes_out_of_the_output():
    item = _parsed()
    assert item == RosterItem("e@x.org", "E", "both", True, ("G",))  # extensions are not compared
    assert len(item.extra_children) == 2
    assert dict(item.extra_attrs) == {f"{{{FOREIGN}}}mark": "1", "weird": "w"}
    assert item.to_dict() == {"jid": "e@x.org", "name": "E", "subscription": "both", "ask": True, "groups": ["G"]}


def test_item_element_sends_unknown_children_and_attributes_back():
    el = item_element(_parsed())
    assert _children(el) == [
        ("{jabber:iq:roster}group", {}, "G", []),
        (f"{{{FOREIGN}}}color", {"shade": "dark"}, "teal", [f"{{{FOREIGN}}}inner"]),
        ("{jabber:iq:roster}note", {}, "roster-ns child", []),
    ]
    assert el.get(f"{{{FOREIGN}}}mark") == "1" and el.get("weird") == "w"
    # still never the server-owned attributes
    assert el.get("ask") is None and el.get("subscription") is None and el.get("approved") is None
    assert all(child.tail is None for child in el)  # no stray whitespace from the item we parsed


@pytest.mark.parametrize("sync", [{}, {"names": False}, {"groups": False}])
def test_plan_update_keeps_unknown_children(sync):
    current = _parsed()
    [change] = plan_roster([current], [RosterItem("e@x.org", "New E", groups=("H",))], **sync).changes
    assert change.action == "update"
    assert change.after.extra_children == current.extra_children
    assert change.after.extra_attrs == current.extra_attrs
    assert "teal" in [child.text for child in item_element(change.after)]
