"""Team rosters, pure parts: the team file's validation and the plan that makes a team converge."""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from xmppctl.errors import UsageError
from xmppctl.roster.items import RosterItem
from xmppctl.fleet.team import (
    PHASE_APPROVE,
    PHASE_PREAPPROVE,
    PHASE_REQUEST,
    ROW_COLUMNS,
    Team,
    TeamMember,
    former_members,
    load_team_file,
    parse_team_text,
    plan_team,
)

CONFIGURED = {"alice", "bob", "carol", "dave", "mallory"}
JIDS = {"alice": "alice@x.org", "bob": "bob@x.org", "carol": "carol@y.org", "dave": "dave@x.org",
        "mallory": "mallory@x.org"}
TEAM = Team("Ops", (TeamMember("alice", "Alice Liddell"), TeamMember("bob"), TeamMember("carol", "Carol")))
NAMES = {"alice": "Alice Liddell", "bob": "bob", "carol": "Carol"}
MEMBERS = ("alice", "bob", "carol")
MEMBER_JIDS = {a: JIDS[a] for a in MEMBERS}
NO_PREAPPROVAL = {a: False for a in MEMBERS}
PREAPPROVAL = {a: True for a in MEMBERS}


def converged_rosters(extra=None):
    """Every member lists every other one by the team name, in Ops, subscription both."""
    rosters = {a: [RosterItem(JIDS[o], NAMES[o], "both", False, ("Ops",)) for o in MEMBERS if o != a] for a in MEMBERS}
    for account, items in (extra or {}).items():
        rosters[account] = [i for i in rosters[account] if i.jid not in {x.jid for x in items}] + list(items)
    return rosters


def sends(plan, phase=None):
    return sorted((s.account, s.to, s.type) for a in plan.accounts for s in a.sends if phase in (None, s.phase))


# ---- the team file --------------------------------------------------------------------------

GOOD = """\
# the on-call team
group = "Ops"

[[member]]
account = "alice"
name = "Alice Liddell"

[[member]]
account = "bob"
"""


def parse(text, configured=CONFIGURED):
    return parse_team_text(text, configured, "team.toml")


def error_of(text, configured=CONFIGURED):
    with pytest.raises(UsageError) as err:
        parse(text, configured)
    assert err.value.exit_code == 2
    return err.value.message


def test_team_file_reads_group_members_and_optional_names():
    assert parse(GOOD) == Team("Ops", (TeamMember("alice", "Alice Liddell"), TeamMember("bob", None)))


def test_team_file_from_disk(tmp_path):
    path = tmp_path / "team.toml"
    path.write_text(GOOD, encoding="utf-8")
    assert load_team_file(str(path), CONFIGURED).accounts == ["alice", "bob"]


def test_unreadable_team_files_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="cannot read"):
        load_team_file(str(tmp_path / "missing.toml"), CONFIGURED)
    with pytest.raises(UsageError, match="is a directory"):
        load_team_file(str(tmp_path), CONFIGURED)
    bad = tmp_path / "latin1.toml"
    bad.write_bytes(b'group = "\xe9"\n')
    with pytest.raises(UsageError, match="not valid UTF-8"):
        load_team_file(str(bad), CONFIGURED)


@pytest.mark.parametrize("text, expected", [
    (GOOD + 'nmae = "typo"\n', "team.toml:10: nmae: unknown key 'nmae'"),
    (GOOD.replace('account = "bob"', 'account = "eve"'), "team.toml:9: account: no account named 'eve' in the config"),
    (GOOD.replace('account = "bob"', 'account = "alice"'), "team.toml:9: account: duplicate account 'alice' (first at line 4)"),
    (GOOD.replace('account = "bob"', "account = 7"), "team.toml:9: account: expected a string, got integer"),
    (GOOD.replace('account = "bob"', 'name = "B"'), "team.toml:8: account: missing"),
    (GOOD.replace('name = "Alice Liddell"', "name = true"), "team.toml:6: name: expected a string, got boolean"),
    (GOOD.replace('name = "Alice Liddell"', 'name = "A\\u0007"'), "team.toml:6: name:"),
    (GOOD.replace('group = "Ops"', 'group = "  "'), "team.toml:2: group: empty group name"),
    (GOOD.replace('group = "Ops"', 'group = ["Ops"]'), "team.toml:2: group: expected a string, got list"),
    (GOOD.replace('group = "Ops"', 'group = "O\\tps"'), "team.toml:2: group:"),
    (GOOD.replace('group = "Ops"\n', ""), "team.toml: group: missing"),
    (GOOD.replace('group = "Ops"', 'group = "Ops"\nteam = "x"'), "team.toml:3: team: unknown key"),
    (GOOD + 'group = "Dev"\n', "team.toml:10: group: unknown key 'group' (expected account, name) (the team's group goes at the top"),
    ('group = "Ops"\n[[member]]\naccount = "alice"\n', "team.toml: member: a team needs at least 2 members, got 1"),
    ('group = "Ops"\n', "team.toml: member: a team needs at least 2 members, got 0"),
    ('group = "Ops"\nmember = "alice"\n', "team.toml: member: expected [[member]] tables, got string"),
    ('group = "Ops"\nmember = [1, 2]\n', "team.toml: member #1: expected a table, got integer"),
    ('group = "Ops"\nmember = [{account = "alice"}, {account = "zed"}]\n', "team.toml: member #2: account: no account named 'zed'"),
    ('group = "Ops"\n[[member]\n', "team.toml: invalid TOML"),
])
def test_team_file_errors_name_file_line_and_field(text, expected):
    assert error_of(text).startswith(expected)


def test_unknown_account_error_lists_the_configured_ones():
    assert "(accounts: alice, bob)" in error_of(GOOD.replace('"bob"', '"eve"'), {"alice", "bob"})


def test_empty_name_means_the_default_name():
    assert parse(GOOD.replace('"Alice Liddell"', '""')).members[0] == TeamMember("alice", None)


# ---- the plan: converged, empty, full mesh ----------------------------------------------------


def test_converged_team_plans_nothing():
    plan = plan_team(TEAM, MEMBER_JIDS, converged_rosters(), PREAPPROVAL)
    assert plan.converged
    assert plan.rows() == [] and plan.handshakes == []
    assert all(a.changes == [] and a.sends == [] for a in plan.accounts)
    assert set(plan.counts().values()) == {0}


def test_empty_rosters_give_the_full_mesh_with_names_and_group():
    plan = plan_team(TEAM, MEMBER_JIDS, {a: [] for a in MEMBERS}, NO_PREAPPROVAL)
    assert not plan.converged
    alice = plan.accounts[0]
    assert [(c.action, c.jid, c.after.name, c.after.groups) for c in alice.changes] == [
        ("add", "bob@x.org", "bob", ("Ops",)),        # default name: the JID's local part
        ("add", "carol@y.org", "Carol", ("Ops",)),
    ]
    pairs = list(itertools.permutations(MEMBERS, 2))
    assert sends(plan, PHASE_REQUEST) == sorted((a, JIDS[b], "subscribe") for a, b in pairs)
    assert sends(plan, PHASE_APPROVE) == sorted((b, JIDS[a], "subscribed") for a, b in pairs)
    assert sends(plan, PHASE_PREAPPROVE) == []
    assert plan.needs_barrier
    assert plan.counts() == {"add": 6, "update": 0, "remove": 0, "preapprove": 0, "request": 6, "approve": 6}


def test_with_preapproval_the_approvers_approve_first_and_no_barrier_is_needed():
    plan = plan_team(TEAM, MEMBER_JIDS, {a: [] for a in MEMBERS}, PREAPPROVAL)
    assert len(sends(plan, PHASE_PREAPPROVE)) == 6 and sends(plan, PHASE_APPROVE) == []
    assert not plan.needs_barrier
    assert [s.phase for s in plan.accounts[0].sends] == [PHASE_PREAPPROVE] * 2 + [PHASE_REQUEST] * 2


def test_preapproval_is_decided_by_the_approvers_server():
    plan = plan_team(TEAM, MEMBER_JIDS, {a: [] for a in MEMBERS}, {"alice": True, "bob": False, "carol": False})
    assert sends(plan, PHASE_PREAPPROVE) == [("alice", "bob@x.org", "subscribed"), ("alice", "carol@y.org", "subscribed")]
    assert ("bob", "alice@x.org", "subscribed") in sends(plan, PHASE_APPROVE)


# ---- the plan: partial states ------------------------------------------------------------------


def pair_state(alice_sees_bob, bob_sees_alice, preapproval=NO_PREAPPROVAL):
    """Converged except for alice's item for bob and bob's item for alice."""
    rosters = converged_rosters({
        "alice": [RosterItem("bob@x.org", "bob", *alice_sees_bob, ("Ops",))],
        "bob": [RosterItem("alice@x.org", "Alice Liddell", *bob_sees_alice, ("Ops",))],
    })
    return plan_team(TEAM, MEMBER_JIDS, rosters, preapproval)


def test_one_way_subscription_needs_only_the_other_direction():
    # alice sees bob (to/from done); bob does not see alice yet
    plan = pair_state(("to", False), ("from", False))
    assert sends(plan) == [("alice", "bob@x.org", "subscribed"), ("bob", "alice@x.org", "subscribe")]
    assert [(h.requester, h.approver, h.approval) for h in plan.handshakes] == [("bob", "alice", "approve")]
    assert all(a.changes == [] for a in plan.accounts)


def test_pending_request_is_sent_again_and_approved():
    # alice asked (none+ask), bob never answered: a lost request would never be answered otherwise
    plan = pair_state(("none", True), ("none", False))
    assert ("alice", "bob@x.org", "subscribe") in sends(plan, PHASE_REQUEST)
    assert ("bob", "alice@x.org", "subscribed") in sends(plan, PHASE_APPROVE)
    assert ("alice", "bob@x.org", "subscribed") in sends(plan, PHASE_APPROVE)  # bob -> alice too


def test_approved_but_unanswered_request_needs_only_a_new_request():
    # bob approved (from) but alice's item missed the answer (none+ask): bob's server answers by itself
    plan = pair_state(("none", True), ("from", False))
    alice_to_bob = [h for h in plan.handshakes if h.requester == "alice"]
    assert [(h.approver, h.approval) for h in alice_to_bob] == [("bob", None)]
    assert [s for s in sends(plan) if s[0] == "bob" and s[2] == "subscribed" and s[1] == "alice@x.org"] == []


def test_requesters_view_alone_is_not_enough():
    # alice's item says to, bob's says none: repaired with a request and an approval
    plan = pair_state(("both", False), ("none", False))
    alice_to_bob = [h for h in plan.handshakes if h.requester == "alice"]
    assert [(h.approver, h.approval) for h in alice_to_bob] == [("bob", "approve")]


def test_only_the_pair_that_is_not_converged_is_touched():
    plan = pair_state(("from", False), ("to", False))
    assert {(s[0], s[1]) for s in sends(plan)} == {("alice", "bob@x.org"), ("bob", "alice@x.org")}
    assert [r["jid"] for r in plan.rows()] == ["bob@x.org", "alice@x.org"]


# ---- the plan: names, groups, foreign contacts ---------------------------------------------------


def test_other_groups_are_kept_and_the_team_group_added():
    rosters = converged_rosters({"alice": [RosterItem("bob@x.org", "bob", "both", False, ("Friends",))]})
    plan = plan_team(TEAM, MEMBER_JIDS, rosters, PREAPPROVAL)
    [change] = plan.accounts[0].changes
    assert (change.action, change.after.groups, change.after.subscription) == ("update", ("Friends", "Ops"), "both")
    assert change.fields() == [("groups", ["Friends"], ["Friends", "Ops"])]
    assert plan.handshakes == []


def test_name_follows_the_team_file():
    rosters = converged_rosters({"bob": [RosterItem("alice@x.org", "Al", "both", False, ("Ops",))]})
    [change] = plan_team(TEAM, MEMBER_JIDS, rosters, PREAPPROVAL).accounts[1].changes
    assert change.fields() == [("name", "Al", "Alice Liddell")]


@pytest.mark.skipif("extra_children" not in {f.name for f in dataclasses.fields(RosterItem)},
                    reason="this RosterItem does not carry foreign item data yet")
def test_foreign_item_data_is_kept_on_update():
    kept = RosterItem("bob@x.org", "b", "both", False, ("Friends",), extra_children=("<x xmlns='urn:other'/>",))
    plan = plan_team(TEAM, MEMBER_JIDS, converged_rosters({"alice": [kept]}), PREAPPROVAL)
    [change] = plan.accounts[0].changes
    assert change.after.extra_children == ("<x xmlns='urn:other'/>",)


def test_contacts_outside_the_team_are_never_touched():
    stranger = RosterItem("zed@z.org", "Zed", "none", True, ("Ops",))  # even in the team group
    rosters = converged_rosters({"alice": [stranger]})
    plan = plan_team(TEAM, MEMBER_JIDS, rosters, PREAPPROVAL, prune_former=[])
    assert plan.converged


def test_dry_run_rows_per_account():
    rosters = converged_rosters({"alice": [RosterItem("bob@x.org", "bob", "from", False, ("Ops",))],
                                 "bob": [RosterItem("alice@x.org", "A", "to", False, ("Ops",))]})
    rows = plan_team(TEAM, MEMBER_JIDS, rosters, NO_PREAPPROVAL).rows()
    assert all(tuple(r) == ROW_COLUMNS for r in rows)
    assert rows == [
        {"account": "alice", "action": "none", "jid": "bob@x.org", "changes": [], "handshake": ["request"]},
        {"account": "bob", "action": "update", "jid": "alice@x.org",
         "changes": [{"field": "name", "old": "A", "new": "Alice Liddell"}], "handshake": ["approve"]},
    ]


# ---- members that could not log in -------------------------------------------------------------


def test_a_member_without_roster_is_unavailable_and_the_others_still_list_it():
    rosters = {"alice": [], "bob": []}  # carol's login failed
    plan = plan_team(TEAM, MEMBER_JIDS, rosters, NO_PREAPPROVAL)
    assert plan.unavailable == ["carol"] and not plan.converged
    assert [a.account for a in plan.accounts] == ["alice", "bob"]
    assert "carol@y.org" in [c.jid for c in plan.accounts[0].changes]
    assert all("carol" not in (h.requester, h.approver) for h in plan.handshakes)
    assert len(plan.handshakes) == 2  # alice <-> bob only


def test_converged_except_an_unavailable_member_is_not_converged():
    rosters = converged_rosters()
    del rosters["carol"]
    plan = plan_team(TEAM, MEMBER_JIDS, rosters, PREAPPROVAL)
    assert plan.rows() == [] and not plan.converged


def test_has_work_and_pending_accounts_name_who_still_has_to_act():
    assert not plan_team(TEAM, MEMBER_JIDS, converged_rosters(), PREAPPROVAL).has_work
    one_way = converged_rosters({"alice": [RosterItem(JIDS["bob"], NAMES["bob"], "from", False, ("Ops",))]})
    plan = plan_team(TEAM, MEMBER_JIDS, one_way, PREAPPROVAL)
    assert plan.has_work and plan.pending_accounts() == {"alice", "bob"}, "both sides of the handshake"
    renamed = converged_rosters({"carol": [RosterItem(JIDS["bob"], "Robert", "both", False, ("Ops",))]})
    plan = plan_team(TEAM, MEMBER_JIDS, renamed, PREAPPROVAL)
    assert plan.has_work and plan.pending_accounts() == {"carol"}, "a roster set concerns its owner only"
    unavailable = converged_rosters()
    del unavailable["carol"]
    plan = plan_team(TEAM, MEMBER_JIDS, unavailable, PREAPPROVAL)
    assert not plan.has_work and plan.pending_accounts() == set(), "nothing to send among the members seen"


def test_two_members_with_the_same_jid_are_refused():
    with pytest.raises(UsageError, match="same JID alice@x.org"):
        plan_team(TEAM, {**MEMBER_JIDS, "carol": "Alice@X.org"}, {}, {})


# ---- --prune ------------------------------------------------------------------------------------


def test_former_members_are_configured_accounts_in_the_team_group():
    rosters = converged_rosters({"alice": [RosterItem(JIDS["dave"], "dave", "both", False, ("Ops",)),
                                           RosterItem("zed@z.org", None, "both", False, ("Ops",))],
                                 "bob": [RosterItem(JIDS["mallory"], None, "both", False, ("Friends",))]})
    assert former_members(TEAM, MEMBER_JIDS, rosters, JIDS) == ["dave@x.org"]


def test_prune_removes_the_team_group_and_items_that_only_had_it():
    rosters = converged_rosters({
        "alice": [RosterItem(JIDS["dave"], "dave", "both", False, ("Ops",))],
        "bob": [RosterItem(JIDS["dave"], "Dave", "both", False, ("Friends", "Ops"))],
        "carol": [RosterItem(JIDS["dave"], "Dave", "both", False, ("Friends",))],
    })
    plan = plan_team(TEAM, MEMBER_JIDS, rosters, PREAPPROVAL, prune_former=former_members(TEAM, MEMBER_JIDS, rosters, JIDS))
    alice, bob, carol = plan.accounts
    assert [(c.action, c.jid) for c in alice.changes] == [("remove", "dave@x.org")]
    assert [(c.action, c.after.groups, c.after.name, c.after.subscription) for c in bob.changes] == [
        ("update", ("Friends",), "Dave", "both")]
    assert carol.changes == []
    assert [(a, c.jid) for a, c in plan.removals()] == [("alice", "dave@x.org")]
    assert sends(plan) == []  # the server does the unsubscribing for a removed item
    assert plan.counts()["remove"] == 1 and plan.counts()["update"] == 1


def test_without_prune_former_members_are_left_alone():
    rosters = converged_rosters({"alice": [RosterItem(JIDS["dave"], "dave", "both", False, ("Ops",))]})
    assert plan_team(TEAM, MEMBER_JIDS, rosters, PREAPPROVAL).converged


def test_a_member_cannot_be_pruned():
    with pytest.raises(UsageError, match="is a member"):
        plan_team(TEAM, MEMBER_JIDS, converged_rosters(), PREAPPROVAL, prune_former=["bob@x.org"])
