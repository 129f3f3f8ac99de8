"""The demo: a throwaway Prosody, two accounts, a roster, and xmppctl showing it.

Run through scripts/demo (which installs prosody and the package first).
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

# The throwaway server comes from the test-support package, which is not installed with
# xmppctl: import it from this checkout, whatever the current directory.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support import ProsodyServer  # noqa: E402


def step(title: str, argv: list[str], env: dict[str, str], stdin: str | None = None) -> None:
    shown = ["xmppctl", *argv]
    print(f"\n$ {shlex.join(shown)}", flush=True)
    r = subprocess.run([sys.executable, "-m", "xmppctl", *argv], env=env, input=stdin, text=True)
    print(f"# exit {r.returncode}: {title}", flush=True)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="xmppctl-demo-") as tmp:
        server = ProsodyServer(Path(tmp) / "prosody")
        with server:
            print(f"Started a throwaway Prosody on 127.0.0.1:{server.port} (data in {tmp}).")
            server.register("alice", "alice-secret")
            server.register("bob", "bob-secret")
            print("Created accounts alice@localhost and bob@localhost.")
            config = Path(tmp) / "config.toml"
            env = dict(os.environ, XMPPCTL_CONFIG=str(config))
            common = ["--server", "127.0.0.1", "--port", str(server.port), "--ca-file", str(server.ca_file)]
            step("account saved (no password stored)", ["account", "add", "alice", "--jid", "alice@localhost", *common], env)
            step("bob's account too", ["account", "add", "bob", "--jid", "bob@localhost", *common], env)
            alice = dict(env, XMPPCTL_PASSWORD="alice-secret")
            bob = dict(env, XMPPCTL_PASSWORD="bob-secret")
            step("add a contact and ask to see bob's presence",
                 ["-a", "alice", "roster", "add", "bob@localhost", "--name", "Bob", "--group", "Friends", "--subscribe"], alice)
            roster = Path(tmp) / "roster.toml"
            roster.write_text(
                '[[contact]]\njid = "bob@localhost"\nname = "Bob"\ngroups = ["Friends"]\n\n'
                '[[contact]]\njid = "carol@example.org"\nname = "Carol"\ngroups = ["Work", "Friends"]\n\n'
                '[[contact]]\njid = "dave@example.net"\ngroups = ["Work"]\n'
            )
            step("what a file-driven sync would change (exit 10 = drift)", ["-a", "alice", "roster", "diff", str(roster), "--exit-code"], alice)
            step("apply it", ["-a", "alice", "roster", "import", str(roster)], alice)
            step("bob sees alice's request", ["-a", "bob", "sub", "pending"], bob)
            step("bob approves it and asks back", ["-a", "bob", "sub", "approve", "alice@localhost", "--and-request"], bob)
            step("alice approves bob's request", ["-a", "alice", "sub", "approve", "--all"], alice)
            step("rename a group on every member", ["-a", "alice", "group", "rename", "Work", "Office"], alice)
            step("the roster as a table", ["-a", "alice", "roster", "list", "-o", "table"], alice)
            step("as JSON (stable keys)", ["-a", "alice", "roster", "list", "-o", "json", "--group", "Friends"], alice)
            step("the file and the roster now differ by the renamed group only (exit 10)",
                 ["-a", "alice", "roster", "diff", str(roster), "--exit-code", "-o", "json"], alice)
            print("\n$ xmppctl -a bob presence set --show away --status 'at lunch' --hold 30 &", flush=True)
            held = subprocess.Popen([sys.executable, "-m", "xmppctl", "-a", "bob", "presence", "set", "--show", "away",
                                     "--status", "at lunch", "--hold", "30", "-o", "json"],
                                    env=bob, stdout=subprocess.PIPE, text=True)
            held.stdout.readline()  # printed once the presence is on the server
            step("bob's presence as alice sees it", ["-a", "alice", "presence", "probe", "-o", "table"], alice)
            held.send_signal(signal.SIGINT)
            print(f"# bob's held session ended on SIGINT with exit {held.wait(10)}")
            step("wrong password: exit code 3", ["-a", "alice", "roster", "list"], dict(env, XMPPCTL_PASSWORD="wrong"))
        print("\nStopped the throwaway Prosody; nothing is left behind.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
