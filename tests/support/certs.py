"""A throwaway CA and the server certificates it signs (for the test servers and fake servers)."""

from __future__ import annotations

import secrets
import subprocess
import time
from pathlib import Path


def make_certs(directory: Path, domain: str, *, client_auth: bool = False) -> Path:
    """A throwaway CA and a server cert for *domain*, localhost and 127.0.0.1; returns the CA path.

    The CA is made once per *directory*: servers given the same directory trust each other.
    *client_auth*: the cert may also authenticate as a TLS client (a server's outgoing s2s)."""
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
        sign_cert(directory, domain, key, crt, sans=[f"DNS:{domain}", "DNS:localhost", "IP:127.0.0.1"],
                  usage="serverAuth,clientAuth" if client_auth else "serverAuth")
    return ca_crt


def sign_cert(directory: Path, cn: str, key: Path, crt: Path, *, sans: list[str], days: int = 3650,
              not_before: str | None = None, not_after: str | None = None, usage: str = "serverAuth") -> None:
    """Issue a cert from the CA in *directory* (dates as YYYYMMDDHHMMSSZ for expired certs)."""
    ext = directory / f"{cn}.ext"
    ext.write_text(
        f"subjectAltName={','.join(sans)}\nextendedKeyUsage={usage}\nbasicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
    )
    csr = directory / f"{cn}.csr"
    _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-subj", f"/CN={cn}", "-keyout", str(key), "-out", str(csr))
    if not_before or not_after:
        # `openssl x509 -not_before/-not_after` needs OpenSSL >= 3.4; `openssl ca` (3.0, Debian 12)
        # takes explicit dates but wants a config, a database and a serial file.
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            db = Path(tmp)
            (db / "index.txt").write_text("")
            (db / "serial").write_text(secrets.token_hex(8) + "\n")
            (db / "ca.cnf").write_text(
                f"[ca]\ndefault_ca = tca\n[tca]\ndatabase = {db}/index.txt\nnew_certs_dir = {db}\n"
                f"serial = {db}/serial\ndefault_md = sha256\npolicy = pol\nunique_subject = no\n"
                "[pol]\ncommonName = supplied\n")
            _openssl("ca", "-batch", "-config", str(db / "ca.cnf"), "-cert", str(directory / "ca.crt"),
                     "-keyfile", str(directory / "ca.key"), "-extfile", str(ext), "-notext",
                     "-startdate", not_before or time.strftime("%Y%m%d%H%M%SZ", time.gmtime()),
                     "-enddate", not_after or time.strftime("%Y%m%d%H%M%SZ", time.gmtime(time.time() + days * 86400)),
                     "-in", str(csr), "-out", str(crt))
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
