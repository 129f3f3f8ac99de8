#!/usr/bin/env python3
"""Fleet benchmark: many accounts in one process vs a shell loop; team sync of a full mesh.

On a throwaway Prosody, or ejabberd with --server ejabberd (servers from tests/support):

1. ``xmppctl -a 'u*' roster list -o json`` over N accounts (default 50, 5 contacts each)
   against a shell loop running ``xmppctl -a uNN roster list -o json`` once per account.
   Goal: the fleet run >= 10x faster.  Peak RSS of the fleet run from its own rusage.
2. ``xmppctl team sync`` of M members (default 20) from empty rosters to a full mesh
   (subscription both, name, group): wall time and what was sent (roster sets and presences,
   from its JSON report); goal <= 10 s.  Then the second run: must send nothing and cost
   <= 1.5x the fleet ``roster list`` of the same accounts.

Medians of --reps runs, interleaved.  Exit 0 when every goal is met, 1 otherwise (not part
of the test suite).

    python3 bench/bench_fleet.py [--accounts 50] [--members 20] [--reps 3] [--server ejabberd]
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

FLEET_GOAL = 10.0
TEAM_GOAL_S = 10.0
SECOND_RUN_GOAL = 1.5


def xmppctl_argv() -> list[str]:
    return [sys.executable, "-m", "xmppctl"]


def timed(argv: list[str], env: dict, *, ok_codes: tuple[int, ...] = (0,)) -> tuple[float, str, float]:
    """(wall seconds, stdout, peak RSS MB of the child itself) of one child."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as out_f, tempfile.TemporaryFile() as err_f:
        proc = subprocess.Popen(argv, stdout=out_f, stderr=err_f, env=env, stdin=subprocess.DEVNULL, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
        code = os.waitstatus_to_exitcode(status)
        elapsed = time.perf_counter() - t0
        out_f.seek(0)
        err_f.seek(0)
        out, err = out_f.read().decode(), err_f.read().decode(errors="replace")
    if code not in ok_codes:
        raise RuntimeError(f"{' '.join(argv[:8])}... exited {code}: {err.strip()[-500:]}")
    return elapsed, out, usage.ru_maxrss / 1024


def write_config(path: Path, server, accounts: dict[str, tuple[str, str]]) -> None:
    text = ""
    for name, (user, password) in accounts.items():
        text += (f'[accounts.{name}]\njid = "{user}@{server.domain}"\nserver = "127.0.0.1"\nport = {server.port}\n'
                 f'ca_file = "{server.ca_file}"\npassword = "{password}"\n')
    path.write_text(text)
    path.chmod(0o600)


def register(server, prefix: str, n: int) -> dict[str, tuple[str, str]]:
    accounts = {f"{prefix}{i:02d}": (f"{prefix}{i:02d}x{secrets.token_hex(2)}", secrets.token_urlsafe(12))
                for i in range(1, n + 1)}
    server.register_many(list(accounts.values()))  # one RPC on ejabberd
    return accounts


def bench_list(server, work: Path, env: dict, n: int, reps: int) -> dict:
    from tests.support import Contact

    accounts = register(server, "u", n)
    for user, _ in accounts.values():
        server.seed_roster(user, [Contact(f"c{k}@example.net", f"C{k}", ("G",)) for k in range(5)])
    config = work / "fleet.toml"
    write_config(config, server, accounts)
    base = xmppctl_argv() + ["--config", str(config)]
    loop = " ; ".join(f"{' '.join(base)} -a {name} roster list -o json >/dev/null || exit 1" for name in accounts)
    fleet_s, loop_s, rss = [], [], []
    for _ in range(reps):
        t, out, mb = timed(base + ["-a", "u*", "roster", "list", "-o", "json"], env)
        assert len(json.loads(out)) == 5 * n, "every account's rows in one document"
        fleet_s.append(t)
        rss.append(mb)
        loop_s.append(timed(["bash", "-c", loop], env)[0])
    fleet, shell = statistics.median(fleet_s), statistics.median(loop_s)
    return {"fleet_s": fleet, "loop_s": shell, "ratio": shell / fleet, "rss_mb": max(rss)}


def bench_team(server, work: Path, env: dict, m: int) -> dict:
    accounts = register(server, "t", m)
    config, team = work / "team-config.toml", work / "team.toml"
    write_config(config, server, accounts)
    team.write_text('group = "Team"\n' + "".join(f'[[member]]\naccount = "{a}"\n' for a in accounts))
    base = xmppctl_argv() + ["--config", str(config)]
    first_s, out, _ = timed(base + ["team", "sync", str(team), "-o", "json"], env)
    rows = json.loads(out)
    assert all(r["status"] == "converged" for r in rows), rows
    sent = {"roster_sets": sum(r["roster_sets"] for r in rows), "presences": sum(r["presences"] for r in rows)}
    second_s, out, _ = timed(base + ["team", "sync", str(team), "-o", "json"], env)
    rows = json.loads(out)
    second_sent = sum(r["roster_sets"] + r["presences"] for r in rows)
    list_s = timed(base + ["--all-accounts", "roster", "list", "-o", "json"], env)[0]
    return {"first_s": first_s, **sent, "second_s": second_s, "second_sent": second_sent, "list_s": list_s,
            "second_ratio": second_s / list_s}


def main() -> int:
    from tests import support

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=50)
    parser.add_argument("--members", type=int, default=20)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--server", choices=("prosody", "ejabberd"), default="prosody")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("XMPPCTL_")}
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.null.Keyring"
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        work = Path(tmp)
        env["XDG_CONFIG_HOME"], env["XDG_CACHE_HOME"], env["XDG_DATA_HOME"] = (str(work / d) for d in ("c", "k", "d"))
        if args.server == "ejabberd":  # ejabberdctl runs the node as 'ejabberd': a directory it can enter
            work.chmod(0o755)
            server_cm = support.EjabberdServer(Path(tempfile.mkdtemp(prefix="xmppctl-ejabberd-")))
        else:
            server_cm = support.ProsodyServer(work / "prosody")
        with server_cm as server:
            listing = bench_list(server, work, env, args.accounts, args.reps)
            team = bench_team(server, work, env, args.members)
    print(f"server: {args.server}\n| benchmark | result | goal |\n|---|---|---|\n"
          f"| roster list, {args.accounts} accounts: fleet (`-a 'u*'`) | {listing['fleet_s']:.2f} s | |\n"
          f"| roster list, {args.accounts} accounts: shell loop | {listing['loop_s']:.2f} s | |\n"
          f"| loop / fleet | {listing['ratio']:.1f}x | >= {FLEET_GOAL:.0f}x |\n"
          f"| fleet peak RSS | {listing['rss_mb']:.0f} MB | |\n"
          f"| team sync {args.members} members, empty -> full mesh | {team['first_s']:.2f} s, "
          f"{team['roster_sets']} roster sets + {team['presences']} presences | <= {TEAM_GOAL_S:.0f} s |\n"
          f"| team sync, second run | {team['second_s']:.2f} s, {team['second_sent']} sent | 0 sent |\n"
          f"| second run / fleet roster list ({team['list_s']:.2f} s) | {team['second_ratio']:.2f}x | <= {SECOND_RUN_GOAL}x |")
    ok = (listing["ratio"] >= FLEET_GOAL and team["first_s"] <= TEAM_GOAL_S and team["second_sent"] == 0
          and team["second_ratio"] <= SECOND_RUN_GOAL)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
