"""Accounts from the TOML config file, the environment and global options; password sources.

Precedence, highest first: command-line options, environment variables, the selected
``[accounts.NAME]`` table, built-in defaults.  ``--jid``/``XMPPCTL_JID`` without an explicit
``--account`` describes an ad-hoc account that does not read the config's default account.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from .errors import AuthError, UsageError
from .jid import parse_jid

DEFAULT_TIMEOUT = 10.0
TLS_MODES = ("starttls", "direct")
OUTPUT_FORMATS = ("table", "json", "ndjson", "csv")
KEYRING_SERVICE = "xmppctl"

#: key -> (expected type(s), description) for [accounts.NAME]
ACCOUNT_KEYS: dict[str, tuple[tuple[type, ...], str]] = {
    "jid": ((str,), "a string user@domain"),
    "server": ((str,), "a host name or address"),
    "port": ((int,), "an integer 1..65535"),
    "tls": ((str,), "'starttls' or 'direct'"),
    "ca_file": ((str,), "a path"),
    "password_command": ((str, list), "a command line string or a list of strings"),
    "password": ((str,), "a string"),
    "timeout": ((int, float), "a positive number of seconds"),
    "output": ((str,), "one of " + ", ".join(OUTPUT_FORMATS)),
    "insecure": ((bool,), "true or false"),
}
TOP_KEYS = ("default_account", "accounts")


def default_config_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("XMPPCTL_CONFIG"):
        return Path(env["XMPPCTL_CONFIG"])
    base = env.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "xmppctl" / "config.toml"


@dataclass
class Account:
    """Everything needed to open a session, after all sources are merged."""

    jid: str
    name: str | None = None
    server: str | None = None
    port: int | None = None
    tls: str = "starttls"
    ca_file: str | None = None
    password_command: list[str] | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = DEFAULT_TIMEOUT
    output: str | None = None
    insecure: bool = False
    #: allow an unencrypted stream, only to a loopback address (checked by the session)
    allow_plaintext: bool = False


@dataclass
class ConfigFile:
    path: Path
    default_account: str | None
    accounts: dict[str, dict[str, Any]]
    exists: bool


def _where(path: Path, key: str) -> str:
    return f"{path}: {key}"


def _check_account(path: Path, name: str, table: Any) -> dict[str, Any]:
    prefix = f"accounts.{name}"
    if not isinstance(table, dict):
        raise UsageError(f"{_where(path, prefix)}: expected a table")
    for key, value in table.items():
        if key not in ACCOUNT_KEYS:
            raise UsageError(f"{_where(path, prefix + '.' + key)}: unknown key (known: {', '.join(ACCOUNT_KEYS)})")
        types, desc = ACCOUNT_KEYS[key]
        ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
        if ok and key == "port":
            ok = 1 <= value <= 65535
        elif ok and key == "timeout":
            ok = value > 0
        elif ok and key == "tls":
            ok = value in TLS_MODES
        elif ok and key == "output":
            ok = value in OUTPUT_FORMATS
        elif ok and key == "password_command":
            ok = bool(value) and (isinstance(value, str) or all(isinstance(v, str) for v in value))
        if not ok:
            raise UsageError(f"{_where(path, prefix + '.' + key)}: expected {desc}, got {value!r}")
        if key == "jid":
            try:
                parse_jid(value, allow_resource=False, require_local=True)
            except UsageError as exc:
                raise UsageError(f"{_where(path, prefix + '.jid')}: {exc.message}") from None
    if "jid" not in table:
        raise UsageError(f"{_where(path, prefix + '.jid')}: missing (every account needs a jid)")
    return table


def load_config(path: Path) -> ConfigFile:
    """Read and validate the config file; a missing file is an empty config."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return ConfigFile(path, None, {}, exists=False)
    except OSError as exc:
        raise UsageError(f"{path}: cannot read config: {exc.strerror}") from None
    import tomllib  # ~5 ms of imports: only when there is a file (not for --help or --jid alone)

    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: invalid TOML: {exc}") from None
    for key in data:
        if key not in TOP_KEYS:
            raise UsageError(f"{_where(path, key)}: unknown key (known: {', '.join(TOP_KEYS)})")
    accounts_raw = data.get("accounts", {})
    if not isinstance(accounts_raw, dict):
        raise UsageError(f"{_where(path, 'accounts')}: expected a table of [accounts.NAME]")
    accounts = {name: _check_account(path, name, table) for name, table in accounts_raw.items()}
    default = data.get("default_account")
    if default is not None:
        if not isinstance(default, str):
            raise UsageError(f"{_where(path, 'default_account')}: expected a string")
        if default not in accounts:
            raise UsageError(f"{_where(path, 'default_account')}: no account named {default!r}")
    return ConfigFile(path, default, accounts, exists=True)


def _env_number(env: Mapping[str, str], name: str, kind: type) -> Any:
    value = env.get(name)
    if value in (None, ""):
        return None
    try:
        number = kind(value)
    except ValueError:
        raise UsageError(f"environment {name}: expected a number, got {value!r}") from None
    return number


def resolve_account(
    config: ConfigFile,
    *,
    account: str | None = None,
    jid: str | None = None,
    server: str | None = None,
    port: int | None = None,
    tls: str | None = None,
    ca_file: str | None = None,
    timeout: float | None = None,
    insecure: bool | None = None,
    env: Mapping[str, str] | None = None,
) -> Account:
    """Merge options (given as arguments), environment and config into one Account."""
    env = os.environ if env is None else env
    account = account or env.get("XMPPCTL_ACCOUNT") or None
    jid = jid or env.get("XMPPCTL_JID") or None
    table: dict[str, Any] = {}
    name: str | None = None
    if account:
        if account not in config.accounts:
            known = ", ".join(sorted(config.accounts)) or "none configured"
            raise UsageError(f"{config.path}: no account named {account!r} (accounts: {known})")
        name, table = account, config.accounts[account]
    elif not jid and config.default_account:
        name, table = config.default_account, config.accounts[config.default_account]
    elif not jid and len(config.accounts) == 1:
        name, table = next(iter(config.accounts.items()))
    chosen_jid = jid or table.get("jid")
    if not chosen_jid:
        raise UsageError(
            "no account: pass --jid or --account, set XMPPCTL_JID, or add one with 'xmppctl account add'"
        )
    chosen_jid = parse_jid(chosen_jid, allow_resource=False, require_local=True).bare
    merged_timeout = timeout or _env_number(env, "XMPPCTL_TIMEOUT", float) or table.get("timeout") or DEFAULT_TIMEOUT
    if merged_timeout <= 0:
        raise UsageError(f"timeout must be positive, got {merged_timeout}")
    merged_port = port or _env_number(env, "XMPPCTL_PORT", int) or table.get("port")
    if merged_port is not None and not 1 <= merged_port <= 65535:
        raise UsageError(f"port must be 1..65535, got {merged_port}")
    merged_tls = tls or env.get("XMPPCTL_TLS") or table.get("tls") or "starttls"
    if merged_tls not in TLS_MODES:
        raise UsageError(f"tls must be one of {', '.join(TLS_MODES)}, got {merged_tls!r}")
    command = table.get("password_command")
    if isinstance(command, str):
        command = shlex.split(command)
    return Account(
        jid=chosen_jid,
        name=name,
        server=server or env.get("XMPPCTL_SERVER") or table.get("server"),
        port=merged_port,
        tls=merged_tls,
        ca_file=ca_file or env.get("XMPPCTL_CA_FILE") or table.get("ca_file"),
        password_command=command,
        password=table.get("password"),
        timeout=float(merged_timeout),
        output=table.get("output"),
        insecure=bool(insecure) or bool(table.get("insecure", False)),
    )


def read_password(
    account: Account,
    *,
    password_stdin: bool = False,
    stdin: TextIO | None = None,
    env: Mapping[str, str] | None = None,
) -> str:
    """The password, from the first source that has one (see module docs for the order)."""
    env = os.environ if env is None else env
    if password_stdin:
        return _password_from_stdin(stdin, account.jid)
    if env.get("XMPPCTL_PASSWORD"):
        return env["XMPPCTL_PASSWORD"]
    if account.password_command:
        return _run_password_command(account.password_command)
    if account.password:
        return account.password
    secret = _keyring_password(account.jid)
    if secret:
        return secret
    raise UsageError(
        f"no password for {account.jid}: use --password-stdin, XMPPCTL_PASSWORD, "
        "password_command in the config, or the keyring"
    )


def read_password_to_store(
    jid: str,
    *,
    password_stdin: bool = False,
    stdin: TextIO | None = None,
    env: Mapping[str, str] | None = None,
) -> str:
    """The password ``account add --store-password`` writes: from --password-stdin or
    XMPPCTL_PASSWORD only, never from a password_command or the keyring (a secret kept there
    must not end up in a clear-text file)."""
    env = os.environ if env is None else env
    if password_stdin:
        return _password_from_stdin(stdin, jid)
    if env.get("XMPPCTL_PASSWORD"):
        return env["XMPPCTL_PASSWORD"]
    raise UsageError("--store-password: give the password with --password-stdin or XMPPCTL_PASSWORD")


def _password_from_stdin(stdin: TextIO | None, jid: str) -> str:
    """The first line of standard input; on a terminal, prompted for without echo (getpass)."""
    stream = stdin or sys.stdin
    if _isatty(stream):
        import getpass

        try:
            line = getpass.getpass(f"Password for {jid}: ")
        except EOFError:
            line = ""
    else:
        line = stream.readline().rstrip("\r\n")
    if not line:
        raise UsageError("--password-stdin: standard input gave an empty password")
    return line


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or closed
        return False


def _run_password_command(argv: list[str]) -> str:
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        raise AuthError(f"password_command: {argv[0]}: not found") from None
    except subprocess.TimeoutExpired:
        raise AuthError(f"password_command: {argv[0]} did not finish within 60 s") from None
    if proc.returncode != 0:
        raise AuthError(f"password_command: {argv[0]} exited with status {proc.returncode}")
    first = proc.stdout.splitlines()[0] if proc.stdout else ""
    if not first:
        raise AuthError(f"password_command: {argv[0]} printed no password")
    return first


def _keyring_password(jid: str) -> str | None:
    try:
        import keyring  # optional extra
    except ImportError:
        return None
    try:
        return keyring.get_password(KEYRING_SERVICE, jid)
    except Exception:  # a broken keyring backend must not hide the other sources' error
        return None


# ---- writing the file (account add/remove) --------------------------------------------------


def _read_raw(path: Path) -> dict[str, Any]:
    import tomllib

    load_config(path)  # validates; refuse to rewrite a file we cannot understand
    try:
        return tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return {}


def write_config(path: Path, data: dict[str, Any]) -> None:
    """Write *data* atomically with mode 0600 (it may hold a password)."""
    import tomli_w

    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=".config.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as f:
            tomli_w.dump(data, f)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def add_account(path: Path, name: str, table: dict[str, Any], *, make_default: bool = False) -> None:
    if not name or not name.replace("-", "").replace("_", "").isalnum():
        raise UsageError(f"account name {name!r}: use letters, digits, '-' and '_'")
    data = _read_raw(path)
    candidate = {k: v for k, v in table.items() if v is not None}
    _check_account(path, name, candidate)
    data.setdefault("accounts", {})[name] = candidate
    if make_default or not data.get("default_account"):
        data["default_account"] = name
    write_config(path, data)


def remove_account(path: Path, name: str) -> None:
    data = _read_raw(path)
    if name not in data.get("accounts", {}):
        raise UsageError(f"{path}: no account named {name!r}")
    del data["accounts"][name]
    if data.get("default_account") == name:
        remaining = sorted(data["accounts"])
        if remaining:
            data["default_account"] = remaining[0]
        else:
            data.pop("default_account")
    write_config(path, data)
