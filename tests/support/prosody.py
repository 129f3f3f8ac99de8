"""A throwaway Prosody: config, certificates, data, log and pid file in one directory, 127.0.0.1 only.

Only the process started here is ever stopped; the system's own Prosody is never touched
(every prosody/prosodyctl call gets --config).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.support.certs import make_certs
from tests.support.common import Contact, free_port, wait_for_xmpp

#: SCRAM iterations of the accounts written here: RFC 7677's minimum and ejabberd's default
#: (prosodyctl uses 10000; every login pays for them on the client side)
SCRAM_ITERATIONS = 4096

PROSODY_MODULES = (
    "roster", "saslauth", "tls", "disco", "ping", "version", "time", "register",
    "posix", "admin_shell", "lastactivity", "blocklist", "pep",
)


def store_name(s: str) -> str:
    """Prosody's datamanager file-name encoding."""
    return re.sub(rb"[^A-Za-z0-9]", lambda m: b"%%%02x" % m.group(0)[0], s.encode()).decode()


_LUA_ESCAPES = {**{c: "\\%03d" % c for c in (*range(32), 127)}, ord('"'): '\\"', ord("\\"): "\\\\"}


def _lua_str(s: str) -> str:
    """A Lua string literal of *s* (quotes, backslashes and control characters escaped)."""
    return '"' + s.translate(_LUA_ESCAPES) + '"'


@dataclass
class ProsodyServer:
    directory: Path
    port: int = 0
    domain: str = "localhost"
    tls: str = "required"  # required | optional | off
    proc: subprocess.Popen | None = None
    ca_file: Path | None = None
    #: a port for direct TLS (XEP-0368) besides the STARTTLS one; none by default
    direct_tls_port: int | None = None
    #: Prosody's storage for accounts and rosters; "xep0227" keeps them in DATA/<user>@<host>.xml
    #: (other stores stay internal: 0.12's module has no blocklist store).  register and
    #: seed_roster write "internal" files: with another storage use prosodyctl_register
    storage: str = "internal"
    #: server-to-server: listen on this port (DNS must name it: SRV _xmpp-server._tcp.DOMAIN),
    #: dialback loaded, and only peers with a certificate from the test CA accepted
    #: (s2s_secure_auth); None (the default): s2s is disabled
    s2s_port: int | None = None
    #: where the CA and this server's certificate live; servers sharing it trust each other
    #: (default DIRECTORY/certs, a CA of its own)
    certs_dir: Path | None = None

    @property
    def config_file(self) -> Path:
        return self.directory / "prosody.cfg.lua"

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    kind = "prosody"

    def start(self, timeout: float = 20) -> "ProsodyServer":
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        self.data_dir.mkdir(mode=0o750, exist_ok=True)
        self.certs_dir = self.certs_dir or self.directory / "certs"
        self.ca_file = make_certs(self.certs_dir, self.domain, client_auth=self.s2s_port is not None)
        self._write_config()
        log = open(self.directory / "prosody.stdout", "wb")
        # setsid: a ^C in the caller's terminal must not reach the server
        self.proc = subprocess.Popen(["prosody", "--config", str(self.config_file), "-F"],
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        log.close()
        try:
            wait_for_xmpp(self.port, self.domain, timeout, self.proc)
        except RuntimeError:
            self.stop()
            tail = (self.directory / "prosody.log").read_text(errors="replace")[-2000:] if (self.directory / "prosody.log").exists() else ""
            raise RuntimeError(f"Prosody did not start on 127.0.0.1:{self.port}\n{tail}") from None
        return self

    def _write_config(self) -> None:
        modules = list(PROSODY_MODULES)
        if self.tls == "off":
            modules.remove("tls")
        s2s = self.s2s_port is not None
        s2s_options = ""
        if s2s:
            modules.append("dialback")
            s2s_options = "\ns2s_direct_tls_ports = { }\ns2s_secure_auth = true"
        user = "run_as_root = true" if os.geteuid() == 0 else ""
        mods = "; ".join(f'"{m}"' for m in modules)
        self.config_file.write_text(f"""-- throwaway xmppctl test/demo server, loopback only
{user}
data_path = "{self.data_dir}"
certificates = "{self.certs_dir}"
pidfile = "{self.directory}/prosody.pid"
admin_socket = "{self.data_dir}/prosody.sock"
log = {{ {{ levels = {{ min = "info" }}, to = "file", filename = "{self.directory}/prosody.log" }} }}
interfaces = {{ "127.0.0.1" }}
local_interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ {self.port} }}
c2s_direct_tls_ports = {{ {self.direct_tls_port or ""} }}
legacy_ssl_ports = {{ }}
s2s_ports = {{ {self.s2s_port or ""} }}{s2s_options}
http_ports = {{ }}
https_ports = {{ }}
network_settings = {{ nagle = false }}
authentication = "internal_hashed"
default_storage = "internal"
storage = {{ accounts = "{self.storage}"; roster = "{self.storage}" }}
c2s_require_encryption = {"true" if self.tls == "required" else "false"}
allow_registration = false
modules_enabled = {{ {mods} }}
modules_disabled = {{ {"" if s2s else '"s2s"; '}"limits"; }}
VirtualHost "{self.domain}"
    ssl = {{ certificate = "{self.certs_dir}/{self.domain}.crt"; key = "{self.certs_dir}/{self.domain}.key"; {f'cafile = "{self.ca_file}";' if s2s else ""} }}
""")

    def register(self, user: str, password: str) -> str:
        """Create an account as ``prosodyctl register`` does (mod_auth_internal_hashed's
        SCRAM-SHA-1 record in the accounts store; an existing account gets the new password),
        written here: a prosodyctl process costs
        ~65 ms of CPU and the suite registers hundreds of accounts."""
        if user != user.lower() or not user.isascii() or not user or "@" in user:
            raise ValueError(f"register {user!r}: use a lower-case ASCII local part")
        salt = secrets.token_hex(16)
        salted = hashlib.pbkdf2_hmac("sha1", password.encode(), salt.encode(), SCRAM_ITERATIONS)
        client_key = hmac.new(salted, b"Client Key", "sha1").digest()
        server_key = hmac.new(salted, b"Server Key", "sha1").hexdigest()
        record = (f'return {{\n\t["salt"] = {_lua_str(salt)};\n\t["iteration_count"] = {SCRAM_ITERATIONS};\n'
                  f'\t["stored_key"] = "{hashlib.sha1(client_key).hexdigest()}";\n\t["server_key"] = "{server_key}";\n}};\n')
        path = self.data_dir / store_name(self.domain) / "accounts" / f"{store_name(user)}.dat"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(record, encoding="utf-8")
        os.replace(tmp, path)
        return f"{user}@{self.domain}"

    def prosodyctl_register(self, user: str, password: str) -> str:
        """Create an account through Prosody itself (its configured storage)."""
        subprocess.run(["prosodyctl", "--config", str(self.config_file), "register", user, self.domain, password],
                       check=True, capture_output=True, stdin=subprocess.DEVNULL, timeout=60)
        return f"{user}@{self.domain}"

    def register_many(self, accounts: list[tuple[str, str]]) -> list[str]:
        """Register (user, password) pairs (each is one small file: cheap)."""
        return [self.register(user, password) for user, password in accounts]

    def seed_roster(self, user: str, contacts: list[Contact], pending_in: list[str] = ()) -> None:
        """Replace *user*'s roster in storage.  Only for users that have not logged in since start."""
        lines = ["return {", "\t[false] = { version = 1; pending = {"]
        lines += [f"\t\t[{_lua_str(j)}] = true;" for j in pending_in]
        lines.append("\t} };")
        for c in contacts:
            fields = [f"subscription = {_lua_str(c.subscription)}"]
            if c.name:
                fields.append(f"name = {_lua_str(c.name)}")
            fields.append("groups = { " + " ".join(f"[{_lua_str(g)}] = true;" for g in c.groups) + " }")
            if c.ask:
                fields.append('ask = "subscribe"')
            lines.append(f"\t[{_lua_str(c.jid)}] = {{ {'; '.join(fields)} }};")
        lines.append("};\n")
        path = self.data_dir / store_name(self.domain) / "roster" / f"{store_name(user)}.dat"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text("\n".join(lines), encoding="utf-8")
        os.replace(tmp, path)

    def stop(self, timeout: float = 15) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def __enter__(self) -> "ProsodyServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
