"""Helpers on stanza XML shared by the wire and the features: errors, and text as on the wire."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from .ns import CLIENT_NS, STANZAS_NS


def stanza_error(element: ET.Element) -> tuple[str, str]:
    """(condition, text) of an ``<error/>`` child of a stanza element."""
    error = element.find(f"{{{CLIENT_NS}}}error")
    if error is None:
        return "undefined-condition", ""
    condition, text = "undefined-condition", ""
    for child in error:
        name = child.tag.rpartition("}")[2]
        if name == "text":
            text = child.text or ""
        elif child.tag.startswith(f"{{{STANZAS_NS}}}"):
            condition = name
    return condition, text


def stanza_text(el: ET.Element) -> str:
    """*el* as XML text with jabber:client as the default namespace, as on the wire."""
    try:
        from slixmpp.xmlstream.tostring import tostring  # loaded anyway: a session is running

        return tostring(el, top_level=True)
    except Exception:  # never lose a stanza over its formatting
        return ET.tostring(el, encoding="unicode")
