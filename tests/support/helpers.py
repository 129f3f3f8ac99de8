"""Helpers shared by the tests (imported, unlike conftest fixtures)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable

from tests.support import Contact


@dataclass
class User:
    server: object
    name: str
    password: str

    @property
    def jid(self) -> str:
        return f"{self.name}@{self.server.domain}"

    @property
    def args(self) -> list[str]:
        """Global options that log in as this user on the test server."""
        return ["--jid", self.jid, "--server", "127.0.0.1", "--port", str(self.server.port),
                "--ca-file", str(self.server.ca_file)]

    def seed(self, contacts: list[Contact], pending_in: list[str] = ()) -> None:
        self.server.seed_roster(self.name, contacts, pending_in)


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str
    elapsed: float = 0.0

    def json(self):
        return json.loads(self.stdout)

    def error(self) -> dict:
        return json.loads(self.stderr.strip().splitlines()[-1])


class TerminalInput(io.StringIO):
    """Standard input that says it is a terminal (prompts read from it as from a user)."""

    def isatty(self) -> bool:
        return True


class InProcessCLI:
    """The one in-process runner: ``xmppctl.cli.main(argv)`` in this process -> :class:`Result`.

    Standard input, environment variables and the login (``session_factory``, e.g. a
    FakeSession's ``factory``) are replaced for the call; output is what capsys caught.
    """

    def __init__(self, monkeypatch, capsys):
        self.monkeypatch, self.capsys = monkeypatch, capsys

    def __call__(self, argv: list[str], *, session_factory: Callable[..., Any] | None = None, stdin: str = "",
                 tty: bool = False, env: dict[str, str | None] | None = None) -> Result:
        from xmppctl.cli import main

        for key, value in (env or {}).items():
            if value is None:
                self.monkeypatch.delenv(key, raising=False)
            else:
                self.monkeypatch.setenv(key, value)
        self.monkeypatch.setattr(sys, "stdin", (TerminalInput if tty else io.StringIO)(stdin))
        self.capsys.readouterr()
        t0 = time.monotonic()
        code = main(list(argv), session_factory=session_factory)
        elapsed = time.monotonic() - t0
        out, err = self.capsys.readouterr()
        return Result(code, out, err, elapsed)


def run_subprocess(user: User | None, *args: str, env: dict | None = None, timeout: float = 60,
                   stdin: str | None = None) -> Result:
    """Run the installed console script in a child process (for timing, signals, real stdio)."""
    full_env = dict(os.environ)
    if user is not None:
        full_env["XMPPCTL_PASSWORD"] = user.password
    full_env.update(env or {})
    argv = [sys.executable, "-m", "xmppctl"] + (user.args if user is not None else []) + list(args)
    t0 = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, env=full_env, timeout=timeout, input=stdin)
    return Result(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - t0)


def roster_by_jid(run_cli, user: User) -> dict[str, dict]:
    """*user*'s roster as ``roster list -o json`` shows it, keyed by JID: what a command left behind."""
    r = run_cli(user, "roster", "list", "-o", "json")
    assert r.code == 0, r.stderr
    return {item["jid"]: item for item in r.json()}


class Terminal:
    """xmppctl in a child process whose stdin, stdout and stderr are a pseudo-terminal.

    The child is a session leader with the terminal as its controlling terminal, so what a user
    types reaches it as through a shell: lines for a prompt, ``\\x03`` (Ctrl-C) as SIGINT.
    """

    def __init__(self, user: User, *args: str, cwd: str | None = None):
        import pty

        self.leader, follower = pty.openpty()
        env = dict(os.environ, XMPPCTL_PASSWORD=user.password)
        self.proc = subprocess.Popen([sys.executable, "-m", "xmppctl", *user.args, *args], stdin=follower,
                                     stdout=follower, stderr=follower, env=env, cwd=cwd,
                                     preexec_fn=_take_terminal, close_fds=True)
        os.close(follower)
        self.output = ""
        self._open = True

    def __enter__(self) -> "Terminal":
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._close()

    def _close(self) -> None:
        if self._open:
            self._open = False
            os.close(self.leader)

    def read_until(self, text: str, deadline_s: float = 60) -> str:
        """Read the terminal until *text* shows (a readiness signal, not a timing assumption)."""
        import select

        deadline = time.monotonic() + deadline_s
        while text not in self.output:
            assert time.monotonic() < deadline, f"{text!r} never showed; the terminal shows:\n{self.output}"
            ready, _, _ = select.select([self.leader], [], [], 0.5)
            if ready and not self._read():
                raise AssertionError(f"the command ended before {text!r} showed:\n{self.output}")
        return self.output

    def type(self, text: str) -> None:
        os.write(self.leader, text.encode())

    def finish(self, deadline_s: float = 60) -> Result:
        """Read until the child closes the terminal, then reap it."""
        import select

        deadline = time.monotonic() + deadline_s
        while True:
            assert time.monotonic() < deadline, f"the command did not end; the terminal shows:\n{self.output}"
            ready, _, _ = select.select([self.leader], [], [], 0.5)
            if ready and not self._read():
                break
        self._close()
        code = self.proc.wait(timeout=deadline_s)
        return Result(code, self.output, self.output)

    def _read(self) -> bool:
        try:
            chunk = os.read(self.leader, 4096)
        except OSError:  # EIO: every end of the terminal on the child's side is closed
            return False
        self.output += chunk.decode(errors="replace")
        return bool(chunk)


def _take_terminal() -> None:
    """In the child: a new session whose controlling terminal is stdin (the pty)."""
    import fcntl
    import termios

    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def process_gone(pid: int, deadline_s: float = 10) -> bool:
    """Whether process *pid* has ended (or is a zombie nobody reaped yet) within *deadline_s*."""
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                    return True
        except FileNotFoundError:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
