"""The error hierarchy and the one table of exit codes.

Library code raises these; the CLI edge (``xmppctl.cli.main``) turns each into a one-line
message on stderr and its exit code.  Nothing else in the code base calls ``sys.exit``.
"""

from __future__ import annotations

from enum import IntEnum
from collections.abc import Iterable, Sequence
from typing import Any


class ExitCode(IntEnum):
    OK = 0
    FAILURE = 1
    USAGE = 2
    AUTH = 3
    CONNECTION = 4
    TIMEOUT = 5
    REFUSED = 6
    PARTIAL = 7
    DRIFT = 10
    INTERRUPTED = 130


#: exit code -> (code name used in JSON errors, meaning); README and man page are generated from it.
EXIT_CODES: dict[ExitCode, tuple[str, str]] = {
    ExitCode.OK: ("ok", "success; also when the reader of standard output goes away early (e.g. | head -1): the rest of the output is dropped silently"),
    ExitCode.FAILURE: ("failure", "any other failure; also: another run holds the account lock (see --lock-wait), nothing was sent"),
    ExitCode.USAGE: ("usage", "usage error or bad input (options, JIDs, files, config); nothing was sent"),
    ExitCode.AUTH: ("auth", "authentication failed"),
    ExitCode.CONNECTION: ("connection", "connection or TLS failure (refused, DNS, certificate, no TLS offered)"),
    ExitCode.TIMEOUT: ("timeout", "a network phase, or the account's password_command or keyring, did not finish within --timeout"),
    ExitCode.REFUSED: ("refused", "the server returned an error for the request"),
    ExitCode.PARTIAL: ("partial", "partial failure in a bulk operation: some items failed, the rest applied"),
    ExitCode.DRIFT: ("drift", "observed state differs from the expected one (diff/plan with --exit-code; presence probe --expect-online: a contact is not online)"),
    ExitCode.INTERRUPTED: ("interrupted", "interrupted by SIGINT/SIGTERM"),
}


class XmppctlError(Exception):
    """Base class: a message for the user and an exit code."""

    exit_code: ExitCode = ExitCode.FAILURE

    def __init__(self, message: str, *, details: Any = None):
        super().__init__(message)
        self.message = message
        #: extra machine-readable data (e.g. failed items), included in JSON errors
        self.details = details

    @property
    def code_name(self) -> str:
        return EXIT_CODES[self.exit_code][0]

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"error": self.code_name, "message": self.message, "exit": int(self.exit_code)}
        if self.details is not None:
            data["details"] = self.details
        return data


class UsageError(XmppctlError):
    exit_code = ExitCode.USAGE


class AuthError(XmppctlError):
    exit_code = ExitCode.AUTH


class ConnectionFailure(XmppctlError):
    exit_code = ExitCode.CONNECTION


class TimeoutFailure(XmppctlError):
    exit_code = ExitCode.TIMEOUT


class ServerRefused(XmppctlError):
    """The server answered a request with an error stanza."""

    exit_code = ExitCode.REFUSED

    def __init__(self, message: str, *, condition: str | None = None, details: Any = None):
        super().__init__(message, details=details)
        self.condition = condition

    def to_json(self) -> dict[str, Any]:
        data = super().to_json()
        if self.condition:
            data["condition"] = self.condition
        return data


class PartialFailure(XmppctlError):
    exit_code = ExitCode.PARTIAL


class DriftFound(XmppctlError):
    exit_code = ExitCode.DRIFT


class Interrupted(XmppctlError):
    exit_code = ExitCode.INTERRUPTED


# ---- the one exit rule ------------------------------------------------------------------------
# Items of a command (contacts, JIDs) and accounts of a fleet run are judged alike: a run that did
# everything exits 0 (10 when it found drift); one where some units failed and something was
# applied exits 7; one where every unit failed exits with their common code when they failed alike
# (every contact unknown: 6; every account's password wrong: 3), else 1 ("any other failure").

_ERROR_CLASSES: dict[int, type[XmppctlError]] = {}


def combined_exit_code(codes: Iterable[int], *, applied: bool = False) -> int:
    """One exit code for the units of a run (items or accounts), each given its own code.

    *applied*: something was applied besides the units that succeeded (e.g. items skipped as
    already done do not count; a unit whose own code is 7 applied something).
    """
    codes = [int(c) for c in codes]
    failed = [c for c in codes if c not in (ExitCode.OK, ExitCode.DRIFT)]
    if not failed:
        return int(ExitCode.DRIFT) if ExitCode.DRIFT in codes else int(ExitCode.OK)
    if applied or len(failed) < len(codes) or ExitCode.PARTIAL in failed:
        return int(ExitCode.PARTIAL)
    return failed[0] if len(set(failed)) == 1 else int(ExitCode.FAILURE)


def condition_exit_code(condition: str | None) -> int:
    """The code of one item that failed with *condition*: a stanza error condition is 6 (the
    server refused it), ``timeout`` 5 and ``connection-lost`` 4 (the item was never answered)."""
    if condition == "timeout":
        return int(ExitCode.TIMEOUT)
    if condition == "connection-lost":
        return int(ExitCode.CONNECTION)
    return int(ExitCode.REFUSED)


def items_failure(failed: Sequence[tuple[str, str | None]], *, applied: bool, message: str,
                  details: Any = None) -> XmppctlError:
    """The error for a run whose items *failed* (each ``(label, condition)``): its class follows
    :func:`combined_exit_code` (7 when something was applied, else the common code, else 1)."""
    code = combined_exit_code([condition_exit_code(c) for _, c in failed], applied=applied)
    conditions = {c for _, c in failed}
    condition = conditions.pop() if len(conditions) == 1 else None
    if code == ExitCode.REFUSED:
        return ServerRefused(message, condition=condition, details=details)
    cls = _ERROR_CLASSES.get(code, XmppctlError)
    return cls(message, details=details)


_ERROR_CLASSES.update({int(ExitCode.CONNECTION): ConnectionFailure, int(ExitCode.TIMEOUT): TimeoutFailure,
                       int(ExitCode.PARTIAL): PartialFailure})


def aborted() -> XmppctlError:
    """The one answer to a declined confirmation: exit 1, nothing was sent."""
    return XmppctlError("aborted: nothing was changed")
