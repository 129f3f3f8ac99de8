"""Incoming presences, read from the raw stream (the session's ``stanza_hook``).

Never from slixmpp's presence events: slixmpp keeps its own roster cache and answers some
stanzas by itself, and its events can arrive after we have moved on.
"""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

from ..errors import ConnectionFailure
from .model import PRESENCE_TAG

if TYPE_CHECKING:
    from ..xmpp.session_api import SessionAPI


class PresenceInbox:
    """Collects incoming presence stanzas; install :meth:`hook` as the session's stanza_hook."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[ET.Element] = asyncio.Queue()

    def hook(self, el: ET.Element) -> None:
        if el.tag == PRESENCE_TAG:
            self._queue.put_nowait(el)

    def get_nowait(self) -> ET.Element | None:
        try:
            return self._queue.get_nowait()
        except asyncio.QueueEmpty:
            return None

    async def get(self, session: SessionAPI, timeout: float | None, stop: asyncio.Event | None = None) -> ET.Element | None:
        """The next presence; None at *timeout* or when *stop* is set; ConnectionFailure if the stream closes."""
        ready = self.get_nowait()
        if ready is not None:
            return ready
        if timeout is not None and timeout <= 0:
            return None
        getter = asyncio.ensure_future(self._queue.get())
        waits: set[asyncio.Future] = {getter, session.closed}
        stopper = asyncio.ensure_future(stop.wait()) if stop is not None else None
        if stopper is not None:
            waits.add(stopper)
        try:
            done, _ = await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if stopper is not None:
                stopper.cancel()
        if getter in done:
            return getter.result()
        getter.cancel()
        if session.closed in done:
            raise ConnectionFailure("connection lost")
        return None
