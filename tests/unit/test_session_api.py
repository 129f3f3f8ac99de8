"""The real session and the tests' fake both implement SessionAPI, signature by signature, and
the fake's stream can go away as a real one does."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect

import pytest

from tests.support.fakes import FakeSession
from xmppctl.errors import ConnectionFailure
from xmppctl.roster.items import RosterItem, fetch_roster, set_item
from xmppctl.xmpp.session import Session
from xmppctl.xmpp.session_api import SessionAPI

IMPLEMENTATIONS = [Session, FakeSession]
#: what the protocol declares, minus typing.Protocol's own machinery
MEMBERS = sorted(n for n, v in vars(SessionAPI).items() if not n.startswith("_") and (callable(v) or isinstance(v, property)))
METHODS = [n for n in MEMBERS if not isinstance(vars(SessionAPI)[n], property)]
ATTRIBUTES = [n for n in MEMBERS if isinstance(vars(SessionAPI)[n], property)]


def test_the_protocol_declares_what_commands_use():
    assert set(ATTRIBUTES) == {"jid", "bare_jid", "account", "timeout", "closed"}
    assert {"query", "send_presence", "send_subscription",
            "send_initial_presence", "keep_offline_messages_stored", "has_feature", "login_facts"} <= set(METHODS)


def _shape(func) -> tuple:
    """Parameters (name, kind, default, annotation text), return annotation, and whether it is a coroutine."""
    sig = inspect.signature(func)
    params = [(p.name, p.kind, p.default, str(p.annotation)) for p in sig.parameters.values()]
    return params, str(sig.return_annotation), inspect.iscoroutinefunction(func)


@pytest.mark.parametrize("cls", IMPLEMENTATIONS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("name", METHODS)
def test_each_method_has_the_protocols_signature(cls, name):
    assert callable(getattr(cls, name, None)), f"{cls.__name__} has no {name}"
    assert _shape(getattr(cls, name)) == _shape(getattr(SessionAPI, name))


def _attribute_type(cls, name: str) -> str | None:
    """The annotation of *name* on *cls*: a dataclass field's type or a property's return type."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    if name in fields:
        return str(fields[name].type)
    prop = inspect.getattr_static(cls, name, None)
    if isinstance(prop, property):
        return str(inspect.signature(prop.fget).return_annotation)
    return None


@pytest.mark.parametrize("cls", IMPLEMENTATIONS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("name", ATTRIBUTES)
def test_each_attribute_has_the_protocols_type(cls, name):
    assert _attribute_type(cls, name) == _attribute_type_of_protocol(name)


def _attribute_type_of_protocol(name: str) -> str:
    return str(inspect.signature(vars(SessionAPI)[name].fget).return_annotation)


def test_a_difference_in_a_signature_is_seen():
    class Drifted(FakeSession):
        async def query(self, iq_type, payload=None, to=None, timeout=None, what="request"):  # keyword-only no more
            return None

    assert _shape(Drifted.query) != _shape(SessionAPI.query)


def test_a_dropped_fake_session_resolves_closed_and_refuses_every_later_send():
    fake = FakeSession.with_roster(RosterItem("alice@example.org"))

    async def scenario():
        closed = fake.closed
        assert not closed.done()
        await set_item(fake, RosterItem("bob@example.org"))
        fake.drop()
        assert closed.done()
        with pytest.raises(ConnectionFailure, match="connection lost"):
            await set_item(fake, RosterItem("carol@example.org"))
        with pytest.raises(ConnectionFailure):
            await fetch_roster(fake)
        with pytest.raises(ConnectionFailure):
            fake.send_subscription("alice@example.org", "subscribe")

    asyncio.run(scenario())
    assert fake.roster_writes() == [("roster-set", RosterItem("bob@example.org"))]


def test_the_fake_drops_the_stream_at_the_write_after_drop_after_writes():
    fake = FakeSession(drop_after_writes=1)

    async def scenario():
        await set_item(fake, RosterItem("a@example.org"))
        with pytest.raises(ConnectionFailure, match="connection lost during"):
            await set_item(fake, RosterItem("b@example.org"))
        return fake.closed.done()

    assert asyncio.run(scenario()) is True
    assert list(fake.roster) == ["a@example.org"]
