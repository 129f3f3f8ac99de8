"""Throwaway local XMPP servers for the demo, the tests and the benchmarks.

Not used by the CLI.  Everything lives in one directory (config, certificates, data, log,
pid file) and listens on 127.0.0.1 only.  Only the process started here is ever stopped;
the system's own Prosody is never touched (every prosody/prosodyctl call gets --config).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

PROSODY_MODULES = (
    "roster", "saslauth", "tls", "disco", "ping", "version", "time", "register",
    "posix", "admin_shell", "lastactivity", "blocklist",
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_packages(*packages: str) -> None:
    """apt-get install what is missing, without letting the packages start system services."""
    missing = [p for p in packages if not _dpkg_installed(p)]
    if not missing:
        return
    if os.geteuid() != 0:
        raise RuntimeError(f"missing Debian packages {missing}; install them as root")
    policy = Path("/usr/sbin/policy-rc.d")
    created = False
    if not policy.exists():
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
        created = True
    try:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        lists = Path("/var/lib/apt/lists")
        if not any(lists.glob("*Packages*")):
            subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        result = subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], env=env)
        if result.returncode != 0:  # stale package lists: refresh once and retry
            subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
            subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], check=True, env=env)
    finally:
        if created:
            policy.unlink()


def _dpkg_installed(package: str) -> bool:
    r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True)
    return r.returncode == 0 and "ok installed" in r.stdout


def make_certs(directory: Path, domain: str) -> Path:
    """A throwaway CA and a server cert for *domain*, localhost and 127.0.0.1; returns the CA path."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_crt = directory / "ca.key", directory / "ca.crt"
    key, crt = directory / f"{domain}.key", directory / f"{domain}.crt"
    if not ca_crt.exists():
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                 "-days", "3650", "-subj", "/CN=xmppctl throwaway CA",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                 "-keyout", str(ca_key), "-out", str(ca_crt))
    if not crt.exists():
        sign_cert(directory, domain, key, crt, sans=[f"DNS:{domain}", "DNS:localhost", "IP:127.0.0.1"])
    return ca_crt


def sign_cert(directory: Path, cn: str, key: Path, crt: Path, *, sans: list[str], days: int = 3650,
              not_before: str | None = None, not_after: str | None = None) -> None:
    """Issue a cert from the CA in *directory* (dates as YYYYMMDDHHMMSSZ for expired certs)."""
    ext = directory / f"{cn}.ext"
    ext.write_text(
        f"subjectAltName={','.join(sans)}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
    )
    csr = directory / f"{cn}.csr"
    _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-subj", f"/CN={cn}", "-keyout", str(key), "-out", str(csr))
    if not_before or not_after:
        _openssl("x509", "-req", "-in", str(csr), "-CA", str(directory / "ca.crt"), "-CAkey",
                 str(directory / "ca.key"), "-CAcreateserial", "-extfile", str(ext), "-out", str(crt),
                 *(["-not_before", not_before] if not_before else []),
                 *(["-not_after", not_after] if not_after else []))
    else:
        _openssl("x509", "-req", "-in", str(csr), "-CA", str(directory / "ca.crt"), "-CAkey",
                 str(directory / "ca.key"), "-CAcreateserial", "-days", str(days), "-extfile", str(ext),
                 "-out", str(crt))
    csr.unlink()
    key.chmod(0o600)


def _openssl(*args: str) -> None:
    r = subprocess.run(["openssl", *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {r.stderr.strip()}")


def wait_for_xmpp(port: int, domain: str, deadline_s: float, proc: subprocess.Popen | None = None) -> None:
    """Until 127.0.0.1:port answers an XMPP stream header (stricter than an open port)."""
    end = time.monotonic() + deadline_s
    header = (f"<?xml version='1.0'?><stream:stream to='{domain}' xmlns='jabber:client' "
              "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>").encode()
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with status {proc.returncode} while starting")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(header)
                data = b""
                s.settimeout(1)
                while b"<stream:stream" not in data and len(data) < 4096:
                    chunk = s.recv(1024)
                    if not chunk:
                        break
                    data += chunk
                if b"<stream:stream" in data:
                    return
        except OSError:
            pass
        if time.monotonic() > end:
            raise RuntimeError(f"no XMPP stream on 127.0.0.1:{port} after {deadline_s} s")
        time.sleep(0.02)


def _enc(s: str) -> str:
    """Prosody's datamanager file-name encoding."""
    return re.sub(rb"[^A-Za-z0-9]", lambda m: b"%%%02x" % m.group(0)[0], s.encode()).decode()


def _lua_str(s: str) -> str:
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif o < 32 or o == 127:
            out.append("\\%03d" % o)
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


@dataclass
class Contact:
    """A roster entry to seed (written straight into the server's storage)."""

    jid: str
    name: str | None = None
    groups: tuple[str, ...] = ()
    subscription: str = "none"
    ask: bool = False


@dataclass
class ProsodyServer:
    directory: Path
    port: int = 0
    domain: str = "localhost"
    tls: str = "required"  # required | optional | off
    proc: subprocess.Popen | None = None
    ca_file: Path | None = None
    users: dict[str, str] = field(default_factory=dict)

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
        self.ca_file = make_certs(self.directory / "certs", self.domain)
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
        user = "run_as_root = true" if os.geteuid() == 0 else ""
        mods = "; ".join(f'"{m}"' for m in modules)
        self.config_file.write_text(f"""-- throwaway xmppctl test/demo server, loopback only
{user}
data_path = "{self.data_dir}"
pidfile = "{self.directory}/prosody.pid"
admin_socket = "{self.data_dir}/prosody.sock"
log = {{ {{ levels = {{ min = "info" }}, to = "file", filename = "{self.directory}/prosody.log" }} }}
interfaces = {{ "127.0.0.1" }}
local_interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ {self.port} }}
c2s_direct_tls_ports = {{ }}
legacy_ssl_ports = {{ }}
s2s_ports = {{ }}
http_ports = {{ }}
https_ports = {{ }}
network_settings = {{ nagle = false }}
authentication = "internal_hashed"
storage = "internal"
c2s_require_encryption = {"true" if self.tls == "required" else "false"}
allow_registration = false
modules_enabled = {{ {mods} }}
modules_disabled = {{ "s2s"; "limits"; }}
VirtualHost "{self.domain}"
    ssl = {{ certificate = "{self.directory}/certs/{self.domain}.crt"; key = "{self.directory}/certs/{self.domain}.key"; }}
""")

    def register(self, user: str, password: str) -> str:
        r = subprocess.run(["prosodyctl", "--config", str(self.config_file), "register", user, self.domain, password],
                           capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            raise RuntimeError(f"prosodyctl register {user} failed: {r.stdout}{r.stderr}")
        self.users[user] = password
        return f"{user}@{self.domain}"

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
        path = self.data_dir / _enc(self.domain) / "roster" / f"{_enc(user)}.dat"
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


def have(program: str) -> bool:
    return shutil.which(program) is not None
