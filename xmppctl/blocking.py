"""Blocking (XEP-0191): read the block list, block and unblock JIDs, unblock everything.

Every operation first asks the server (disco#info to its domain) whether it offers
``urn:xmpp:blocking``; a server that does not gets nothing else (exit 6).  Block list entries
may be bare JIDs, full JIDs or domains (XEP-0191 §3.2: ``spam.example`` blocks every address
at that domain).  Blocks and unblocks are sent one IQ per JID, in parallel, so each JID gets
its own result row (one IQ with several items would fail or succeed as a whole).  See
docs/protocol-notes.md, "Blocking (XEP-0191)".
"""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import ServerRefused, TimeoutFailure, UsageError
from .jid import parse_jid
from .xmpp.ns import BLOCKING_NS

if TYPE_CHECKING:
    from .xmpp.session_api import SessionAPI

#: keys of a block list row (a documented contract)
LIST_COLUMNS = ("jid",)
#: keys of a per-JID result row, in this order (a documented contract, like the roster edits')
RESULT_COLUMNS = ("action", "jid", "ok", "error", "message")
#: IQs in flight at once for a bulk block/unblock
WINDOW = 32


@dataclass(frozen=True, slots=True)
class BlockResult:
    """What was (or, with ``ok`` None, would be) done for one JID.

    ``action``: block, unblock, or skip (nothing to send: already blocked / not blocked).
    ``ok``: True when the server confirmed, False when it refused (``error`` holds the
    condition, or "timeout"), None for a dry run (nothing sent).
    """

    action: str
    jid: str
    ok: bool | None
    error: str | None = None
    message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "jid": self.jid, "ok": self.ok, "error": self.error, "message": self.message}


# --- pure logic --------------------------------------------------------------------------


def block_jids(values: Iterable[str]) -> list[str]:
    """Validate and normalise every JID (bare, full or a domain) before anything is sent; drop duplicates."""
    seen: dict[str, None] = {}
    for value in values:
        seen.setdefault(parse_jid(value).full, None)
    return list(seen)


def check_blockable(own_bare: str, jids: Iterable[str]) -> None:
    """Refuse (exit 2) blocking our own account or our own server: it would cut this account off."""
    own_domain = own_bare.partition("@")[2]
    for jid in jids:
        bare = jid.partition("/")[0]
        if bare == own_bare:
            raise UsageError(f"{jid} is your own JID: you cannot block yourself")
        if bare == own_domain:
            raise UsageError(f"{jid} is your own server: blocking it would cut this account off")


def _normalise(jid: str) -> str:
    """A block list entry as the server sent it, normalised like our input (kept raw if invalid)."""
    try:
        return parse_jid(jid).full
    except UsageError:
        return jid


def parse_blocklist(result: ET.Element | None) -> list[str]:
    """The entries of a ``<blocklist/>`` result, normalised, without duplicates, sorted."""
    blocklist = result.find(f"{{{BLOCKING_NS}}}blocklist") if result is not None else None
    if blocklist is None:
        return []
    entries = {_normalise(item.get("jid", "")) for item in blocklist.iter(f"{{{BLOCKING_NS}}}item")}
    return sorted(e for e in entries if e)


def covering_entries(jid: str, entries: Iterable[str]) -> list[str]:
    """The block list entries that block every resource of *jid*: its bare JID or its domain.

    Matching as for privacy lists (XEP-0191 §3.2, XEP-0016 §2.1): ``user@domain`` covers all
    its resources and ``domain`` every address at it, but a full JID (``user@domain/res``)
    or ``domain/res`` covers that one address only, so those are not counted.
    """
    bare = parse_jid(jid).bare
    return sorted(e for e in entries if e == bare or e == bare.rpartition("@")[2])


def plan_changes(action: str, wanted: Sequence[str], current: Iterable[str]) -> tuple[list[str], list[BlockResult]]:
    """Split *wanted* into JIDs to send *action* (block|unblock) for and skip rows for the rest."""
    have = set(current)
    send: list[str] = []
    skipped: list[BlockResult] = []
    for jid in wanted:
        if action == "block" and jid in have:
            skipped.append(BlockResult("skip", jid, True, message="already blocked; nothing sent"))
        elif action == "unblock" and jid not in have:
            skipped.append(BlockResult("skip", jid, True, message="not blocked; nothing sent"))
        else:
            send.append(jid)
    return send, skipped


def dry_run_rows(action: str, jids: Sequence[str], skipped: Sequence[BlockResult]) -> list[BlockResult]:
    verb = "blocked" if action == "block" else "unblocked"
    rows = [BlockResult(action, jid, None, message=f"would be {verb} (dry run; nothing sent)") for jid in jids]
    return sorted([*rows, *skipped], key=lambda r: r.jid)


def raise_for_results(results: Sequence[BlockResult]) -> None:
    """Raise for refused JIDs by the one exit rule: 6 when nothing sent succeeded, 7 when some
    JIDs were done (skipped ones, already as asked, count as neither)."""
    from .errors import items_failure

    failed = [r for r in results if r.ok is False]
    if not failed:
        return
    listing = ", ".join(f"{r.jid} ({r.error})" for r in failed[:5]) + (" ..." if len(failed) > 5 else "")
    applied = any(r.ok and r.action != "skip" for r in results)
    prefix = f"{len(failed)} of {len(results)} failed" if applied else "server refused"
    raise items_failure([(r.jid, r.error) for r in failed], applied=applied, message=f"{prefix}: {listing}",
                        details=[r.to_dict() for r in failed])


def _payload(action: str, jids: Sequence[str]) -> ET.Element:
    element = ET.Element(f"{{{BLOCKING_NS}}}{action}")
    for jid in jids:
        ET.SubElement(element, f"{{{BLOCKING_NS}}}item", {"jid": jid})
    return element


# --- network ------------------------------------------------------------------------------


async def supports_blocking(session: SessionAPI) -> bool:
    """Ask the server (disco#info to its domain) whether it offers urn:xmpp:blocking."""
    from .presence.publish import server_offers

    return await server_offers(session, BLOCKING_NS)


async def require_blocking(session: SessionAPI) -> None:
    """Exit 6 (nothing else sent) unless the server offers XEP-0191."""
    if not await supports_blocking(session):
        raise ServerRefused("server does not support blocking (XEP-0191)", condition="feature-not-implemented")


async def fetch_blocklist(session: SessionAPI) -> list[str]:
    """The account's block list (sorted, normalised).  Call :func:`require_blocking` first."""
    result = await session.query("get", ET.Element(f"{{{BLOCKING_NS}}}blocklist"), what="block list request")
    return parse_blocklist(result)


async def _send_one(session: SessionAPI, action: str, jid: str, window: asyncio.Semaphore) -> BlockResult:
    async with window:
        try:
            await session.query("set", _payload(action, [jid]), what=f"{action} of {jid}")
        except ServerRefused as exc:
            return BlockResult(action, jid, False, exc.condition, exc.message)
        except TimeoutFailure as exc:
            return BlockResult(action, jid, False, "timeout", exc.message)
    return BlockResult(action, jid, True)


async def change(session: SessionAPI, action: str, jids: Sequence[str], *, dry_run: bool = False) -> list[BlockResult]:
    """Block (``action="block"``) or unblock each JID; one result row per JID, sorted by JID.

    JIDs already in that state are skipped (nothing sent for them); a dry run sends nothing
    after reading the block list.
    """
    if action not in ("block", "unblock"):
        raise ValueError(f"unknown action {action!r}")
    await require_blocking(session)
    send, skipped = plan_changes(action, jids, await fetch_blocklist(session))
    if dry_run:
        return dry_run_rows(action, send, skipped)
    window = asyncio.Semaphore(WINDOW)
    done = await asyncio.gather(*(_send_one(session, action, jid, window) for jid in send))
    return sorted([*done, *skipped], key=lambda r: r.jid)


async def unblock_all(session: SessionAPI, *, dry_run: bool = False) -> list[BlockResult]:
    """Empty the block list with one ``<unblock/>`` without items (XEP-0191 §3.4).

    One row per entry the list held; with an empty list nothing is sent.
    """
    await require_blocking(session)
    current = await fetch_blocklist(session)
    if dry_run or not current:
        return dry_run_rows("unblock", current, []) if dry_run else []
    try:
        await session.query("set", _payload("unblock", []), what="unblock of every JID")
    except ServerRefused as exc:
        return [BlockResult("unblock", jid, False, exc.condition, exc.message) for jid in current]
    return [BlockResult("unblock", jid, True) for jid in current]
