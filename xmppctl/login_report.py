"""What ``account test`` reports about a login: how it was made, and what the server runs."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .xmpp.session_api import SessionAPI


async def login_report(session: SessionAPI) -> dict[str, Any]:
    """The login's facts: bound_jid, server (the host:port connected to), found (how that target
    was found: SRV, XEP-0368, fallback, --server or --port), tls_mode (starttls or direct),
    address (peer IP), tls_version, tls_cipher, sasl_mechanism, server_software (see
    :func:`server_software`)."""
    facts = session.login_facts()
    return {
        "bound_jid": session.jid,
        "server": facts["target"],
        "found": facts["found"],
        "tls_mode": facts["tls_mode"],
        "address": facts["address"],
        "tls_version": facts["tls_version"],
        "tls_cipher": facts["tls_cipher"],
        "sasl_mechanism": facts["sasl_mechanism"],
        "server_software": await server_software(session),
    }


async def server_software(session: SessionAPI) -> str | None:
    """The server's XEP-0092 name and version, or None when it does not answer them."""
    from .errors import ServerRefused, TimeoutFailure
    from .presence.probe import VERSION_NS, describe_software

    try:
        answer = await session.query("get", ET.Element(f"{{{VERSION_NS}}}query"), to=session.account.jid.partition("@")[2],
                                     what="server version query (XEP-0092)")
    except (ServerRefused, TimeoutFailure):
        return None
    return describe_software(answer)
