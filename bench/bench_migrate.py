#!/usr/bin/env python3
"""roster migrate benchmark: move an account of N contacts (default 200) to a new account.

On a throwaway Prosody, or ejabberd with --server ejabberd (servers from tests/support).  OLD
gets N contacts (registered accounts on the same server), a quarter each with subscription
both, from, to and none.  Timed, as a child process (what a user waits for):

1. the first ``xmppctl -a old roster migrate --to newK -o json --rate 1000/s``, into a fresh
   NEW each repetition: N roster sets, the pre-approvals and the requests;
2. the second run into the same NEW: reads both accounts, sends nothing.

Medians of --reps runs.  Not part of the test suite.

    python3 bench/bench_migrate.py [--contacts 200] [--reps 3] [--server ejabberd]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))


CPU: list[float] = []  # xmppctl's own CPU seconds (user + sys) per run


def run(argv: list[str], env: dict) -> tuple[float, str]:
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, cwd=ROOT)
    elapsed = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise RuntimeError(f"exit {proc.returncode}: {proc.stderr.strip()[-500:]}")
    return elapsed, proc.stdout


def main() -> int:
    from tests.support import Contact, EjabberdServer, ProsodyServer

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--contacts", type=int, default=200)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--server", choices=("prosody", "ejabberd"), default="prosody")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="xmppctl-bench-migrate-"))
    os.chmod(work, 0o755)  # ejabberd runs as its own user
    server = (EjabberdServer(work / "ejabberd") if args.server == "ejabberd" else ProsodyServer(work / "prosody"))
    server.start()
    try:
        accounts = {"old": (f"old{secrets.token_hex(2)}", secrets.token_urlsafe(12))}
        accounts.update({f"new{k}": (f"new{k}x{secrets.token_hex(2)}", secrets.token_urlsafe(12))
                         for k in range(args.reps)})
        contacts = [(f"c{i:03d}x{secrets.token_hex(2)}", secrets.token_urlsafe(12)) for i in range(args.contacts)]
        server.register_many(list(accounts.values()) + contacts)
        kinds = ("both", "from", "to", "none")
        server.seed_roster(accounts["old"][0], [
            Contact(f"{name}@{server.domain}", f"Contact {i}", (f"G{i % 5}",), kinds[i % 4])
            for i, (name, _) in enumerate(contacts)])
        config = work / "config.toml"
        config.write_text("".join(
            f'[accounts.{key}]\njid = "{user}@{server.domain}"\nserver = "127.0.0.1"\nport = {server.port}\n'
            f'ca_file = "{server.ca_file}"\npassword = "{password}"\n' for key, (user, password) in accounts.items()))
        config.chmod(0o600)
        env = {k: v for k, v in os.environ.items() if not k.startswith("XMPPCTL_")}
        env["XDG_DATA_HOME"] = str(work / "data")
        first, second = [], []
        for k in range(args.reps):
            argv = [sys.executable, "-m", "xmppctl", "--config", str(config), "-a", "old", "roster", "migrate",
                    "--to", f"new{k}", "-o", "json", "--rate", "1000/s"]
            t, out = run(argv, env)
            rows = json.loads(out)
            steps = sum(r["step"] != "none" for r in rows)
            assert len(rows) == args.contacts and all(r["copied"] == "add" for r in rows), rows[:3]
            first.append(t)
            t, out = run(argv, env)
            assert all(r["step"] == "none" and r["copied"] == "unchanged" for r in json.loads(out))
            second.append(t)
            print(f"rep {k + 1}: first run {first[-1]:.2f} s, xmppctl CPU {CPU[-2]:.2f} s ({args.contacts} roster "
                  f"sets, {steps} contacts with presences sent); second run {second[-1]:.2f} s, CPU {CPU[-1]:.2f} s "
                  "(nothing sent)", flush=True)
        print(f"\n{args.server}, {args.contacts} contacts: first run median {statistics.median(first):.2f} s, "
              f"second run median {statistics.median(second):.2f} s ({args.reps} reps)")
    finally:
        server.stop()
        subprocess.run(["rm", "-rf", str(work)], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
