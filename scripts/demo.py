"""The demo: a throwaway Prosody, two accounts, a roster, and xmppctl showing it.

Run through scripts/demo (which installs prosody and the package first).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

from xmppctl.devserver import Contact, ProsodyServer


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
            # alice's starting roster is written into the server's storage (she has not logged in)
            server.seed_roster("alice", [
                Contact("bob@localhost", "Bob", ("Friends",), "both"),
                Contact("carol@example.org", "Carol", ("Work", "Friends"), "to"),
                Contact("dave@example.net", None, (), "none", ask=True),
            ])
            config = Path(tmp) / "config.toml"
            env = dict(os.environ, XMPPCTL_CONFIG=str(config))
            step("account saved (no password stored)", ["account", "add", "alice", "--jid", "alice@localhost",
                 "--server", "127.0.0.1", "--port", str(server.port), "--ca-file", str(server.ca_file)], env)
            env["XMPPCTL_PASSWORD"] = "alice-secret"
            step("the roster as a table", ["roster", "list", "-o", "table"], env)
            step("as JSON (stable keys)", ["roster", "list", "-o", "json", "--group", "Friends"], env)
            step("pending outbound requests", ["roster", "list", "--pending", "-o", "csv"], env)
            step("wrong password: exit code 3", ["roster", "list"], dict(env, XMPPCTL_PASSWORD="wrong"))
        print("\nStopped the throwaway Prosody; nothing is left behind.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
