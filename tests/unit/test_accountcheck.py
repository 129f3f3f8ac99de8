"""account test's server software query (XEP-0092), against a fake session."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET

from tests.support.fakes import FakeSession
from xmppctl.login_report import server_software

VERSION = "{jabber:iq:version}"


class VersionServer(FakeSession):
    """Answers a version query with *answer* (name, version), or an empty result when None."""

    answer: tuple[str, str] | None = None
    asked: list = []

    async def query(self, iq_type, payload=None, *, to=None, timeout=None, what="request"):
        if payload is None or payload.tag != f"{VERSION}query":
            return await super().query(iq_type, payload, to=to, timeout=timeout, what=what)
        self.asked.append(to)
        iq = ET.Element("{jabber:client}iq", {"type": "result"})
        if self.answer is not None:
            query = ET.SubElement(iq, f"{VERSION}query")
            for tag, text in zip(("name", "version"), self.answer):
                ET.SubElement(query, f"{VERSION}{tag}").text = text
        return iq


def test_server_software_asks_the_accounts_domain_and_joins_name_and_version():
    fake = VersionServer(bare_jid="me@example.org")
    fake.answer, fake.asked = (" Prosody ", "0.12.4 "), []
    assert asyncio.run(server_software(fake)) == "Prosody 0.12.4"
    assert fake.asked == ["example.org"]


def test_server_software_is_none_when_the_server_refuses_or_says_nothing():
    assert asyncio.run(server_software(FakeSession())) is None, "an error answer"
    fake = VersionServer()
    fake.answer, fake.asked = None, []
    assert asyncio.run(server_software(fake)) is None, "a result without a query"
