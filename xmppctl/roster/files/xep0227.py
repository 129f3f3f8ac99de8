"""XEP-0227 (Portable Import/Export Format) roster files: read whole server dumps, write one user.

What is read: ``<server-data>`` in either namespace (``urn:xmpp:pie:0`` and the older
``http://www.xmpp.org/extensions/xep-0227.html#ns``), its ``<host jid=…>`` and ``<user name=…>``
elements, each user's ``<query xmlns='jabber:iq:roster'>`` items (jid, name, subscription, ask,
groups) and pending inbound requests ``<presence type='subscribe' from=…/>`` (namespace
``jabber:client`` as ejabberd writes them, or none of its own as Prosody's mod_storage_xep0227
writes them).  Host files pulled in with XInclude are read too (ejabberd's ``export_piefxis
DIR`` writes a ``server-data`` file including one file per host).

Safety, as defusedxml does it: a document type declaration (and so any entity) is refused,
nothing is fetched from the network, and an XInclude ``href`` must be a relative path that stays
inside the directory of the including file.  Credentials (``<password>``, ``<scram-credentials>``)
and everything else a user element holds are skipped: never kept, never in an error message.

``subscription``, ``ask`` and the pending requests are information for ``roster diff`` and
``roster migrate``; an import sends only names and groups (RFC 6121: the server owns the rest).
Library module: raises :class:`~xmppctl.errors.UsageError` (exit 2), never prints.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from ...errors import UsageError
from ...jid import bare_jid, parse_jid
from ..items import ROSTER_NS, SUBSCRIPTIONS, RosterItem

PIE_NS = "urn:xmpp:pie:0"
OLD_PIE_NS = "http://www.xmpp.org/extensions/xep-0227.html#ns"
PIE_NAMESPACES = (PIE_NS, OLD_PIE_NS)
XINCLUDE_NS = "http://www.w3.org/2001/XInclude"
CLIENT_NS = "jabber:client"
#: included files may include files themselves (host files, user files) up to this depth
MAX_INCLUDE_DEPTH = 3


@dataclass(frozen=True, slots=True)
class PieUser:
    """One account of a XEP-0227 file: its roster (with subscription and ask) and the JIDs whose
    subscription request to it was pending when the file was written."""

    jid: str
    items: tuple[RosterItem, ...] = ()
    pending_in: tuple[str, ...] = ()

    def orphan_requests(self) -> list[str]:
        """Pending requesters without a roster item: ejabberd's export drops such contacts'
        items (names, groups) and keeps only the request (docs/protocol-notes.md)."""
        have = {item.jid for item in self.items}
        return [jid for jid in self.pending_in if jid not in have]


@dataclass
class PieFile:
    """A read XEP-0227 file: its users by bare JID, in file order.

    Only the structure (hosts, user names) of every user is checked when the file is read; a
    user's roster is validated when it is picked (:meth:`user`, :meth:`select`), so a bad item
    of another account in a server dump does not stop the import of this one.
    """

    name: str
    _users: dict[str, tuple[_Tree, ET.Element, str]] = field(default_factory=dict, repr=False)

    @property
    def users(self) -> list[str]:
        return list(self._users)

    def user(self, jid: str) -> PieUser:
        tree, el, place = self._users[jid]
        return _read_user(tree, el, place, jid)

    def select(self, wanted: str | None = None, account_jid: str | None = None) -> PieUser:
        """The user a command works on: *wanted* (``--user``); else the only user of a
        single-user file; else the account's own JID.  Absent: UsageError naming who is there."""
        if wanted is None and len(self._users) == 1:
            return self.user(next(iter(self._users)))
        present = f"({len(self._users)}) " + ", ".join(list(self._users)[:10]) + (" …" if len(self._users) > 10 else "")
        if not self._users:
            raise UsageError(f"{self.name}: the XEP-0227 file holds no user")
        if wanted is None and account_jid is None:
            raise UsageError(f"{self.name}: the file holds {len(self._users)} users: pick one with --user JID; "
                             f"users in it {present}")
        target = bare_jid(wanted) if wanted is not None else account_jid
        if target in self._users:
            return self.user(target)
        how = "--user" if wanted is not None else "the account's JID; pick another with --user JID"
        raise UsageError(f"{self.name}: {target} ({how}) is not in the file; users in it {present}")


def is_xep0227(head: str) -> bool:
    """True when the text starts like a XEP-0227 document (for format detection)."""
    text = head.lstrip("\ufeff \t\r\n")
    if not text.startswith("<"):
        return False
    return "server-data" in text[:2048] or any(ns in text[:2048] for ns in PIE_NAMESPACES)


# ---- safe XML parsing ------------------------------------------------------------------------


class _Tree:
    """A parsed document: its root and the line each element starts on (for error messages)."""

    def __init__(self, root: ET.Element, lines: dict[int, int], name: str, path: Path | None):
        self.root, self.lines, self.name, self.path = root, lines, name, path

    def where(self, el: ET.Element, place: str, attr: str | None = None) -> str:
        return f"{self.name}:{self.lines.get(id(el), '?')}: {place}" + (f": {attr}" if attr else "")


def _parse_xml(data: bytes | str, name: str, path: Path | None = None) -> _Tree:
    """Parse with expat into an ElementTree; refuse DTDs (entities), keep start lines."""
    import xml.parsers.expat as expat

    if isinstance(data, str):
        try:
            data = data.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise UsageError(f"{name}: contains U+{ord(data[exc.start]):04X}, which XML cannot carry") from None
    builder = ET.TreeBuilder()
    lines: dict[int, int] = {}
    parser = expat.ParserCreate(namespace_separator="}")

    def qualified(tag: str) -> str:
        return "{" + tag if "}" in tag else tag

    def start(tag: str, attrs: dict[str, str]) -> None:
        el = builder.start(qualified(tag), {qualified(k): v for k, v in attrs.items()})
        lines[id(el)] = parser.CurrentLineNumber

    def refuse_dtd(*_args: Any) -> None:
        raise UsageError(f"{name}:{parser.CurrentLineNumber}: a document type declaration (DTD, entities) "
                         "is not allowed in a roster file")

    parser.StartElementHandler = start
    parser.EndElementHandler = lambda tag: builder.end(qualified(tag))
    parser.CharacterDataHandler = builder.data
    parser.StartDoctypeDeclHandler = refuse_dtd
    parser.EntityDeclHandler = refuse_dtd
    parser.ExternalEntityRefHandler = lambda *a: refuse_dtd()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    try:
        parser.Parse(data, True)
        root = builder.close()
    except expat.ExpatError as exc:
        raise UsageError(f"{name}:{exc.lineno}: invalid XML: {expat.ErrorString(exc.code)} (column {exc.offset + 1})") from None
    except RecursionError:
        raise UsageError(f"{name}: invalid XML: nested too deeply") from None
    return _Tree(root, lines, name, path)


def _local(el: ET.Element) -> tuple[str, str]:
    """(namespace, local name) of an element."""
    if el.tag.startswith("{"):
        ns, _, local = el.tag[1:].partition("}")
        return ns, local
    return "", el.tag


def _include(tree: _Tree, el: ET.Element, place: str, depth: int) -> _Tree:
    """The document an ``<xi:include>`` names: a relative path inside the including file's directory."""
    from urllib.parse import unquote, urlsplit

    href = el.get("href")
    if not href:
        raise UsageError(tree.where(el, place, "href") + ": missing")
    if el.get("parse", "xml") != "xml":
        raise UsageError(tree.where(el, place, "parse") + f": {el.get('parse')!r} is not supported (only xml)")
    if tree.path is None:
        raise UsageError(tree.where(el, place, "href") + ": XInclude needs a file, not standard input")
    if depth >= MAX_INCLUDE_DEPTH:
        raise UsageError(tree.where(el, place, "href") + f": included files nested more than {MAX_INCLUDE_DEPTH} deep")
    parts = urlsplit(href)
    if parts.scheme or parts.netloc or parts.query or parts.fragment or href.startswith("/"):
        raise UsageError(tree.where(el, place, "href") + f": {href!r}: only a relative file path is allowed")
    base = tree.path.parent.resolve()
    target = (base / unquote(parts.path)).resolve()
    if not target.is_relative_to(base) or target == base:
        raise UsageError(tree.where(el, place, "href") + f": {href!r} is outside the directory of {tree.name}")
    shown = str(tree.path.parent / unquote(parts.path))
    try:
        data = target.read_bytes()
    except OSError as exc:
        raise UsageError(tree.where(el, place, "href") + f": cannot read {shown}: {exc.strerror or exc}") from None
    return _parse_xml(data, shown, target)


# ---- reading ---------------------------------------------------------------------------------


def read_pie_file(path: str | Path, *, shown: str | None = None) -> PieFile:
    """Read and validate a XEP-0227 file (and the files it includes)."""
    name = shown or str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        from .fields import read_error

        raise read_error(name, exc) from None
    return parse_pie(data, name, Path(path))


def parse_pie(data: bytes | str, name: str = "<input>", path: Path | None = None) -> PieFile:
    """Parse and validate a whole XEP-0227 document given as bytes or text."""
    tree = _parse_xml(data, name, path)
    ns, local = _local(tree.root)
    out = PieFile(name)
    if local != "server-data" or ns not in PIE_NAMESPACES:
        raise UsageError(f"{name}:{tree.lines.get(id(tree.root), 1)}: expected <server-data xmlns='{PIE_NS}'> "
                         f"(XEP-0227), got <{local}>" + (f" in namespace {ns}" if ns else ""))
    _read_children(tree, tree.root, "server-data", "host", out, depth=0)
    return out


def _read_children(tree: _Tree, parent: ET.Element, place: str, want: str, out: PieFile, *,
                   depth: int, host: str | None = None) -> None:
    """Read *parent*'s ``host`` (or ``user``) children, following XIncludes in their place."""
    counts: dict[str, int] = {}
    for child in parent:
        ns, local = _local(child)
        counts[local] = counts.get(local, 0) + 1
        here = f"{place}/{local}[{counts[local]}]"
        if ns == XINCLUDE_NS and local == "include":
            included = _include(tree, child, here, depth)
            inner_ns, inner_local = _local(included.root)
            if inner_ns not in PIE_NAMESPACES or inner_local not in (want, "server-data"):
                raise UsageError(included.where(included.root, inner_local) + f": expected <{want}> (XEP-0227)")
            if inner_local == want:
                _read_one(included, included.root, want, out, depth + 1, host)
            else:
                _read_children(included, included.root, "server-data", want, out, depth=depth + 1, host=host)
        elif ns in PIE_NAMESPACES and local == want:
            _read_one(tree, child, here, out, depth, host)
        elif want == "user":
            # credentials and other data of the account: never kept (and never echoed)
            child.clear()


def _read_one(tree: _Tree, el: ET.Element, place: str, out: PieFile, depth: int, host: str | None) -> None:
    if host is None:  # a <host jid=…>
        domain = el.get("jid")
        if not domain:
            raise UsageError(tree.where(el, place, "jid") + ": missing host JID")
        try:
            jid = parse_jid(domain, allow_resource=False)
        except UsageError as exc:
            raise UsageError(tree.where(el, place, "jid") + f": {exc.message}") from None
        if jid.local:
            raise UsageError(tree.where(el, place, "jid") + f": {domain!r} is not a domain")
        _read_children(tree, el, f"host[@jid='{jid.domain}']", "user", out, depth=depth, host=jid.domain)
        return
    local = el.get("name")
    if not local:
        raise UsageError(tree.where(el, place, "name") + ": missing user name")
    try:
        user_jid = parse_jid(f"{local}@{host}", allow_resource=False, require_local=True).bare
    except UsageError as exc:
        raise UsageError(tree.where(el, place, "name") + f": {exc.message}") from None
    if user_jid in out._users:
        raise UsageError(tree.where(el, place, "name") + f": user {user_jid} appears twice")
    for child in el:  # credentials and other data of the account: never kept
        if _local(child)[1] not in ("query", "presence"):
            child.clear()
    out._users[user_jid] = (tree, el, f"user[@name='{local}']")


def _read_user(tree: _Tree, el: ET.Element, place: str, user_jid: str) -> PieUser:
    from .fields import ItemCollector

    collector = ItemCollector(tree.name)
    pending: dict[str, None] = {}
    index = 0
    for child in el:
        ns, local = _local(child)
        if ns == ROSTER_NS and local == "query":
            for item in child:
                if _local(item) != (ROSTER_NS, "item"):
                    continue
                index += 1
                _read_item(tree, item, f"{place}/query/item[{index}]", collector)
        elif local == "presence" and ns in (CLIENT_NS, *PIE_NAMESPACES, "") and child.get("type") == "subscribe":
            sender = child.get("from")
            where = tree.where(child, f"{place}/presence", "from")
            if not sender:
                raise UsageError(where + ": missing")
            try:
                pending.setdefault(parse_jid(sender).bare, None)
            except UsageError as exc:
                raise UsageError(f"{where}: {exc.message}") from None
    items = tuple(item for item in collector.result() if item.jid != user_jid)
    return PieUser(user_jid, items, tuple(j for j in pending if j != user_jid))


def _read_item(tree: _Tree, item: ET.Element, place: str, collector: Any) -> None:
    def where(attr: str | None) -> str:
        return tree.where(item, place, attr)

    groups = []
    for group in item:
        if _local(group) == (ROSTER_NS, "group"):
            groups.append(group.text or "")
    raw: dict[str, Any] = {"jid": item.get("jid"), "name": item.get("name") or None, "groups": groups}
    subscription = item.get("subscription", "none")
    if subscription not in SUBSCRIPTIONS:
        raise UsageError(f"{where('subscription')}: {subscription!r} (expected {', '.join(SUBSCRIPTIONS)})")
    ask = item.get("ask")
    if ask not in (None, "subscribe", "unsubscribe"):
        raise UsageError(f"{where('ask')}: {ask!r} (expected subscribe)")
    if raw["jid"] is None:
        raise UsageError(f"{where('jid')}: missing JID")
    collector.add(raw, where, f"line {tree.lines.get(id(item), '?')}")
    collector.items[-1] = replace(collector.items[-1], subscription=subscription, ask=ask == "subscribe")


# ---- writing ---------------------------------------------------------------------------------


def _attr(value: str) -> str:
    from xml.sax.saxutils import quoteattr

    return quoteattr(value, {"\n": "&#10;", "\r": "&#13;", "\t": "&#9;"})


def iter_xep0227(items: Iterable[RosterItem], account_jid: str, pending_in: Iterable[str] = ()) -> Iterator[str]:
    """A single-user XEP-0227 document for *account_jid*: its roster items (jid, name,
    subscription, ask, groups) and pending inbound requests.  Never credentials."""
    from xml.sax.saxutils import escape

    jid = parse_jid(account_jid, allow_resource=False, require_local=True)
    yield ("<?xml version='1.0' encoding='UTF-8'?>\n"
           f"<server-data xmlns='{PIE_NS}'>\n"
           f"  <host jid={_attr(jid.domain)}>\n"
           f"    <user name={_attr(jid.local)}>\n"
           f"      <query xmlns='{ROSTER_NS}'>\n")
    for item in items:
        attrs = f"jid={_attr(item.jid)}"
        if item.name is not None:
            attrs += f" name={_attr(item.name)}"
        attrs += f" subscription={_attr(item.subscription)}"
        if item.ask:
            attrs += " ask='subscribe'"
        if item.groups:
            groups = "".join(f"<group>{escape(g)}</group>" for g in item.groups)
            yield f"        <item {attrs}>{groups}</item>\n"
        else:
            yield f"        <item {attrs}/>\n"
    yield "      </query>\n"
    for sender in pending_in:
        yield (f"      <presence xmlns='{CLIENT_NS}' type='subscribe' from={_attr(sender)} "
               f"to={_attr(jid.bare)}/>\n")
    yield "    </user>\n  </host>\n</server-data>\n"
