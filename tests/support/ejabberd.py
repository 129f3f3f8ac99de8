"""A throwaway ejabberd with the same interface as the Prosody one (see EjabberdServer)."""

from __future__ import annotations

import os
import secrets
import select
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.certs import make_certs
from tests.support.common import Contact, free_port, have, wait_for_xmpp


#: the line the RPC shell prints after each evaluation: "<marker>ok" or "<marker><class>:<reason>"
_RPC_DONE = "xmppctl-rpc-done:"


def _erl_bin(s: str) -> str:
    """An Erlang binary literal of *s* as UTF-8 bytes (no quoting rules to get wrong)."""
    return "<<" + ",".join(str(b) for b in s.encode()) + ">>"


@dataclass
class EjabberdServer:
    """A throwaway ejabberd (Debian package, 23.01) with the same interface as ProsodyServer.

    Config, Mnesia spool, certs, logs and pid file live in *directory*; c2s listens on
    127.0.0.1 only; the Erlang distribution listens on a fixed loopback port and no epmd is
    started (``ERL_DIST_PORT`` makes ejabberdctl pass ``-start_epmd false``).  As root,
    ejabberdctl always runs the node as the ``ejabberd`` user, so *directory* is chowned to it
    and every parent directory must be traversable by others.
    """

    directory: Path
    port: int = 0
    domain: str = "localhost"
    tls: str = "required"  # required | optional
    proc: subprocess.Popen | None = None
    ca_file: Path | None = None
    dist_port: int = 0
    cookie: str = ""
    #: a port for direct TLS (XEP-0368) besides the STARTTLS one; none by default
    direct_tls_port: int | None = None
    #: server-to-server: an ejabberd_s2s_in listener on this port, s2s allowed (STARTTLS
    #: required, certificates checked against the test CA) and names resolved by the DNS
    #: server on 127.0.0.1:53 besides the hosts file; None (the default): s2s is refused
    s2s_port: int | None = None
    #: where the CA and this server's certificate live; servers sharing it trust each other
    #: (default DIRECTORY/certs, a CA of its own; made readable by the ejabberd user)
    certs_dir: Path | None = None
    _rpc: subprocess.Popen | None = None

    kind = "ejabberd"

    @property
    def config_file(self) -> Path:
        return self.directory / "ejabberd.yml"

    @property
    def node(self) -> str:
        return f"xmppctl{self.port}@localhost"

    def _ctl(self) -> list[str]:
        d = self.directory
        return ["ejabberdctl", "--config-dir", str(d), "--config", str(self.config_file),
                "--ctl-config", str(d / "ejabberdctl.cfg"), "--logs", str(d / "log"), "--spool", str(d / "spool")]

    def start(self, timeout: float = 60, attempts: int = 3) -> "EjabberdServer":
        """Start the node; a start that fails because a port was taken (``eaddrinuse``: some
        process outside the reservation of :func:`free_port` bound it) is retried with fresh
        ports, up to *attempts* times, when the ports were chosen here."""
        chosen_here = not self.port and not self.dist_port
        for attempt in range(1, attempts + 1):
            try:
                return self._start_once(timeout)
            except RuntimeError as exc:
                if not (chosen_here and attempt < attempts and "eaddrinuse" in str(exc)):
                    raise
                self.port = self.dist_port = 0
                for sub in ("spool", "log"):  # Mnesia's schema names the node, which names the port
                    shutil.rmtree(self.directory / sub, ignore_errors=True)
        raise AssertionError("unreachable")

    def _start_once(self, timeout: float) -> "EjabberdServer":
        if not have("ejabberdctl"):
            raise RuntimeError("ejabberd is not installed (apt-get install ejabberd)")
        if os.geteuid() == 0:
            for parent in self.directory.resolve().parents:
                if parent.stat().st_mode & 0o001 == 0:
                    raise RuntimeError(f"ejabberd runs as the 'ejabberd' user and cannot reach {self.directory}: "
                                       f"{parent} is not traversable by others (use a directory under /tmp)")
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        self.dist_port = self.dist_port or free_port()
        self.cookie = self.cookie or "xmppctl" + secrets.token_hex(8)
        for sub in ("spool", "log"):
            (self.directory / sub).mkdir(exist_ok=True)
        certs = self.certs_dir = self.certs_dir or self.directory / "certs"
        self.ca_file = make_certs(certs, self.domain, client_auth=self.s2s_port is not None)
        pem = certs / f"{self.domain}.pem"
        pem.write_bytes((certs / f"{self.domain}.key").read_bytes() + (certs / f"{self.domain}.crt").read_bytes())
        pem.chmod(0o600)
        self._write_config()
        if os.geteuid() == 0:
            subprocess.run(["chown", "-R", "ejabberd:ejabberd", str(self.directory), str(certs)], check=True)
        log = open(self.directory / "ejabberd.stdout", "wb")
        # foreground, in a session of its own: we own the process tree and a ^C in the
        # caller's terminal does not reach it.
        self.proc = subprocess.Popen([*self._ctl(), "foreground"], stdin=subprocess.DEVNULL, stdout=log,
                                     stderr=subprocess.STDOUT, cwd=self.directory, start_new_session=True)
        log.close()
        try:
            wait_for_xmpp(self.port, self.domain, timeout, self.proc)
        except RuntimeError:
            self.stop()
            logs = [self.directory / "ejabberd.stdout", self.directory / "log" / "ejabberd.log",
                    self.directory / "log" / "error.log"]
            texts = [p.read_text(errors="replace") for p in logs if p.exists()]
            clash = " (eaddrinuse: a port was taken)" if any("eaddrinuse" in t or "already in use" in t for t in texts) else ""
            tail = "".join(t[-1500:] for t in texts)
            raise RuntimeError(f"ejabberd did not start on 127.0.0.1:{self.port}{clash}\n{tail}") from None
        return self

    def _write_config(self) -> None:
        d, certs = self.directory, self.certs_dir
        (d / "ejabberdctl.cfg").write_text(f"""# throwaway xmppctl test server (sourced by ejabberdctl)
ERLANG_NODE={self.node}
ERL_DIST_PORT={self.dist_port}
INET_DIST_INTERFACE=127.0.0.1
ERL_EPMD_ADDRESS=127.0.0.1
EJABBERD_PID_PATH={d}/ejabberd.pid
EJABBERD_BYPASS_WARNINGS=true
ERL_OPTIONS="-env ERL_CRASH_DUMP_BYTES 0 -setcookie {self.cookie} +sbwt none +sbwtdcpu none +sbwtdio none"
CONTRIB_MODULES_PATH={d}/contrib
CONTRIB_MODULES_CONF_DIR={d}/contrib/conf
""")
        # +sbwt none...: schedulers sleep when out of work instead of spinning (they would
        # take CPU from the tests' clients on a small machine).
        # The node resolves names from this file only: it never sends a DNS query.
        # With s2s, other domains come from the DNS server the caller runs on 127.0.0.1:53.
        dns = "{nameserver, {127,0,0,1}, 53}.\n" if self.s2s_port else ""
        (d / "inetrc").write_text(f'{{lookup, [file{", dns" if dns else ""}]}}.\n{dns}'
                                  f'{{host, {{127,0,0,1}}, ["localhost", "{self.domain}"]}}.\n')
        s2s = "" if not self.s2s_port else f"""  -
    port: {self.s2s_port}
    ip: "127.0.0.1"
    module: ejabberd_s2s_in
    max_stanza_size: 1048576
    shaper: none
"""
        required = "true" if self.tls == "required" else "false"
        direct = "" if not self.direct_tls_port else f"""  -
    port: {self.direct_tls_port}
    ip: "127.0.0.1"
    module: ejabberd_c2s
    max_stanza_size: 1048576
    shaper: none
    access: c2s
    tls: true
"""
        # mod_roster without cache and versioning: seed_roster writes Mnesia directly and the
        # next login must see exactly that.
        self.config_file.write_text(f"""# throwaway xmppctl test server, loopback only
hosts:
  - "{self.domain}"
loglevel: info
log_rotate_count: 0
hide_sensitive_log_data: true
certfiles:
  - "{certs}/{self.domain}.pem"
ca_file: "{certs}/ca.crt"
auth_method: internal
auth_password_format: scram
default_db: mnesia
listen:
  -
    port: {self.port}
    ip: "127.0.0.1"
    module: ejabberd_c2s
    max_stanza_size: 1048576
    shaper: none
    access: c2s
    starttls: true
    starttls_required: {required}
{direct}{s2s}s2s_access: {"all" if self.s2s_port else "none"}{chr(10) + "s2s_use_starttls: required" if self.s2s_port else ""}
acl:
  local:
    user_regexp: ""
access_rules:
  local:
    allow: local
  c2s:
    allow: all
  register:
    deny: all
api_permissions:
  "console commands":
    from:
      - ejabberd_ctl
    who: all
    what: "*"
shaper: {{}}
shaper_rules:
  max_user_sessions: 10
  max_user_offline_messages: 5000
  c2s_shaper: none
  s2s_shaper: none
modules:
  mod_admin_extra: {{}}
  mod_blocking: {{}}
  mod_caps: {{}}
  mod_disco: {{}}
  mod_last: {{}}
  mod_offline: {{}}
  mod_ping: {{}}
  mod_privacy: {{}}
  mod_pubsub:
    plugins: ["flat", "pep"]
{"  mod_s2s_dialback: {}" + chr(10) if self.s2s_port else ""}  mod_roster:
    versioning: false
    use_cache: false
  mod_time: {{}}
  mod_version:
    show_os: false
""")

    def register(self, user: str, password: str) -> str:
        r = subprocess.run([*self._ctl(), "register", user, self.domain, password],
                           capture_output=True, text=True, stdin=subprocess.DEVNULL, cwd=self.directory)
        if r.returncode != 0:
            raise RuntimeError(f"ejabberdctl register {user} failed: {r.stdout}{r.stderr}")
        return f"{user}@{self.domain}"

    def register_many(self, accounts: list[tuple[str, str]]) -> list[str]:
        """Register (user, password) pairs in one RPC: one VM start instead of one
        ``ejabberdctl register`` (~0.5-0.9 s) per account.  All must be new."""
        if not accounts:
            return []
        pairs = ", ".join(f"{{{_erl_bin(user)}, {_erl_bin(password)}}}" for user, password in accounts)
        self.rpc(f"H = {_erl_bin(self.domain)}, "
                 f"R = [{{U, rpc:call(N, ejabberd_auth, try_register, [U, H, P])}} || {{U, P}} <- [{pairs}]], "
                 "case [X || {_, Res} = X <- R, Res =/= ok] of [] -> ok; "
                 "Bad -> erlang:error({not_registered, Bad}) end")
        return [f"{user}@{self.domain}" for user, _ in accounts]

    def rpc(self, exprs: str, timeout: float = 30) -> str:
        """Evaluate Erlang *exprs* (``N`` is our node) in one hidden node kept for the session.

        The first call starts a hidden ``erl`` connected to ours over loopback (no epmd: it
        finds the node at the fixed distribution port and does not listen itself); later calls
        send one line to its stdin and read the answer.  A VM start costs ~0.4 s of CPU, once
        instead of once per seed or registration batch.  Returns what *exprs* printed; a
        failed evaluation (a badmatch, an ``erlang:error``) raises RuntimeError.
        """
        shell = self._rpc_shell()
        assert shell.stdin is not None and shell.stdout is not None
        shell.stdin.write(exprs.replace("\n", " ") + ".\n")
        shell.stdin.flush()
        out: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            ready, _, _ = select.select([shell.stdout], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                self._close_rpc_shell()
                raise RuntimeError(f"ejabberd RPC timed out after {timeout} s: {exprs[:200]}")
            line = shell.stdout.readline()
            if not line:
                self._close_rpc_shell()
                raise RuntimeError(f"ejabberd RPC shell ended: {''.join(out)}")
            if line.startswith(_RPC_DONE):
                status = line[len(_RPC_DONE):].strip()
                if status != "ok":
                    raise RuntimeError(f"ejabberd RPC failed: {status}\n{''.join(out)}")
                return "".join(out)
            out.append(line)

    def _rpc_shell(self) -> subprocess.Popen:
        if self._rpc is not None and self._rpc.poll() is None:
            return self._rpc
        loop = (f"N = '{self.node}', "
                "case net_kernel:connect_node(N) of true -> ok; _ -> io:format(standard_error, \"cannot reach ~p~n\", [N]), halt(2) end, "
                "Loop = fun L() -> case io:get_line(\"\") of eof -> halt(0); Line -> "
                "R = try {ok, T, _} = erl_scan:string(Line), {ok, E} = erl_parse:parse_exprs(T), "
                "erl_eval:exprs(E, erl_eval:add_binding('N', N, erl_eval:new_bindings())), ok "
                "catch C:X -> lists:flatten(io_lib:format(\"~p:~0p\", [C, X])) end, "
                f"io:format(\"{_RPC_DONE}~s~n\", [R]), L() end end, Loop().")
        self._rpc = subprocess.Popen(
            ["erl", "-noshell", "-hidden", "-sname", f"xmppctlrpc{os.getpid()}x{secrets.token_hex(3)}@localhost",
             "-setcookie", self.cookie, "-erl_epmd_port", str(self.dist_port), "-start_epmd", "false", "+sbwt", "none",
             "-dist_listen", "false", "-kernel", "inet_dist_use_interface", "{127,0,0,1}", "-eval", loop],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd="/")
        return self._rpc

    def _close_rpc_shell(self) -> None:
        shell, self._rpc = self._rpc, None
        if shell is None:
            return
        try:
            if shell.stdin is not None:
                shell.stdin.close()  # eof: the loop halts
            shell.wait(5)
        except (OSError, subprocess.TimeoutExpired):
            shell.kill()
            shell.wait()
        if shell.stdout is not None:
            shell.stdout.close()

    def seed_roster(self, user: str, contacts: list[Contact], pending_in: list[str] = ()) -> None:
        """Replace *user*'s roster in Mnesia (the #roster records mod_roster stores).

        Unlike Prosody's file storage this also works while the user is logged in, but
        sessions keep the roster they already fetched.  Pending inbound requests are
        items with ask=in (and subscription none when not in *contacts*), as ejabberd keeps them.
        """
        asks: dict[str, str] = {c.jid: ("out" if c.ask else "none") for c in contacts}
        for jid in pending_in:
            asks[jid] = {"none": "in", "out": "both"}.get(asks.get(jid, "none"), "in")
        by_jid = {c.jid: c for c in contacts}
        records = []
        for jid, ask in asks.items():
            c = by_jid.get(jid, Contact(jid))
            node, _, host = jid.partition("@") if "@" in jid else ("", "", jid)
            ljid = f"{{{_erl_bin(node.lower())}, {_erl_bin(host.lower())}, <<>>}}"
            records.append(
                f"{{roster, {{U, H, {ljid}}}, {{U, H}}, {ljid}, {_erl_bin(c.name or '')}, {c.subscription}, {ask}, "
                f"[{', '.join(_erl_bin(g) for g in c.groups)}], <<>>, []}}")
        self.rpc(
            f"U = {_erl_bin(user.lower())}, H = {_erl_bin(self.domain)}, "
            "true = rpc:call(N, ejabberd_auth, user_exists, [U, H]), "
            # check the record layout we write against the running server's
            "[usj, us, jid, name, subscription, ask, groups, askmessage, xs] = rpc:call(N, mnesia, table_info, [roster, attributes]), "
            "Old = rpc:call(N, mnesia, dirty_index_read, [roster, {U, H}, us]), "
            "ok = rpc:call(N, lists, foreach, [fun mnesia:dirty_delete_object/1, Old]), "
            f"ok = rpc:call(N, lists, foreach, [fun mnesia:dirty_write/1, [{', '.join(records)}]])")

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM to our beam.smp (a clean init:stop()), then wait for our ejabberdctl to end."""
        self._close_rpc_shell()
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        # su runs the node in a session of its own, so signalling our process group would
        # miss it: signal our beam.smp itself.
        beam = self._beam_pid()
        if beam is not None:
            os.kill(beam, signal.SIGTERM)
        else:
            os.killpg(proc.pid, signal.SIGTERM)  # not up yet: our own session (start_new_session)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            beam = self._beam_pid()
            if beam is not None:
                os.kill(beam, signal.SIGKILL)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def _beam_pid(self) -> int | None:
        """Our node's beam.smp: from its pid file, else the process whose command line names our node."""
        marker = f"-sname\0{self.node}\0".encode()
        candidates = []
        try:
            candidates.append(int((self.directory / "ejabberd.pid").read_text().strip()))
        except (OSError, ValueError):
            pass
        candidates += [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]
        for pid in candidates:
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if marker in cmdline and b"beam" in cmdline.split(b"\0", 1)[0]:
                return pid
        return None

    def __enter__(self) -> "EjabberdServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
