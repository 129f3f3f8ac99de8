"""Accounts from the TOML config file, the environment and global options; password sources.

Precedence, highest first: command-line options, environment variables, the selected
``[accounts.NAME]`` table, built-in defaults.  ``--jid``/``XMPPCTL_JID`` without an explicit
``--account`` describes an ad-hoc account that does not read the config's default account.

Password sources, first match wins: ``--password-stdin``, ``XMPPCTL_PASSWORD_<NAME>`` (the
account's own variable: its name upper-cased, ``-`` as ``_``), ``XMPPCTL_PASSWORD``, the
account's ``password_command``, its stored ``password``, the keyring.  Which one was used is
kept as a :class:`PasswordSource`, so an authentication failure can name it.

With several accounts in one run (fleet mode, ``team sync``) the shared variables
``XMPPCTL_PASSWORD`` and ``XMPPCTL_JID`` would give every account the same secret or login:
:func:`check_several_accounts_env` refuses them before any login, and an account resolved as
one of several (``shared_env=False``) never reads them.  Two accounts whose names map to the
same ``XMPPCTL_PASSWORD_<NAME>`` are refused when the config is read.

A ``password_command`` and the keyring are read without blocking the event loop and within
the account's timeout (:func:`fetch_password`): a slow source delays only its own account.
"""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from .formats import OUTPUT_FORMATS
from .errors import UsageError
from .jid import parse_jid

DEFAULT_TIMEOUT = 10.0
TLS_MODES = ("starttls", "direct")
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
#: variables that describe one account and so never apply when several are selected
SHARED_ENV = ("XMPPCTL_PASSWORD", "XMPPCTL_JID")


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
    #: True when tls was set (option, XMPPCTL_TLS or the file), not defaulted: an explicit
    #: "starttls" puts STARTTLS SRV targets before direct TLS ones of the same priority
    tls_chosen: bool = False
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
    #: how *path* was chosen ("given with --config", "the default: XDG_CONFIG_HOME is unset, ...")
    origin: str = ""
    #: permission bits of the file (None when it does not exist)
    mode: int | None = None


def config_path_origin(explicit: bool, env: Mapping[str, str] | None = None) -> str:
    """Why the config file is where it is, for messages about a missing file (cron's HOME...)."""
    env = os.environ if env is None else env
    if explicit:
        return "given with --config or XMPPCTL_CONFIG"
    if env.get("XMPPCTL_CONFIG"):
        return "given with XMPPCTL_CONFIG"
    if env.get("XDG_CONFIG_HOME"):
        return f"the default under XDG_CONFIG_HOME={env['XDG_CONFIG_HOME']}"
    home = env.get("HOME")
    return f"the default: XDG_CONFIG_HOME is unset, HOME={home}" if home else "the default: XDG_CONFIG_HOME and HOME are unset"


def exposed_password_warning(config: ConfigFile) -> str | None:
    """A warning when the file stores a password and others than its owner may read it."""
    if config.mode is None or not config.mode & 0o077:
        return None
    holders = sorted(name for name, table in config.accounts.items() if "password" in table)
    if not holders:
        return None
    return (f"{config.path} stores a password (account {', '.join(map(repr, holders))}) and is readable by "
            f"others (mode {config.mode:04o}): run chmod 600 {config.path}")


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
            ok = _command_argv(value) is not None
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


def _command_argv(value: Any) -> list[str] | None:
    """A password_command as an argv list (a string is split like a shell would); None if invalid."""
    if isinstance(value, str):
        try:
            value = shlex.split(value)
        except ValueError:  # unbalanced quotes
            return None
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value) or not value[0]:
        return None
    return value


def load_config(path: Path, *, origin: str = "") -> ConfigFile:
    """Read and validate the config file; a missing file is an empty config."""
    try:
        raw = path.read_bytes()
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return ConfigFile(path, None, {}, exists=False, origin=origin)
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
    check_password_variables(path, accounts)
    default = data.get("default_account")
    if default is not None:
        if not isinstance(default, str):
            raise UsageError(f"{_where(path, 'default_account')}: expected a string")
        if default not in accounts:
            raise UsageError(f"{_where(path, 'default_account')}: no account named {default!r}")
    return ConfigFile(path, default, accounts, exists=True, origin=origin, mode=mode)


def check_password_variables(path: Path, names: Iterable[str]) -> None:
    """UsageError when two account names map to one XMPPCTL_PASSWORD_<NAME> (``Bot``/``bot``,
    ``a-b``/``a_b``): one account's password would be offered to the other's server."""
    seen: dict[str, str] = {}
    for name in names:
        var = password_env_var(name)
        if var in seen:
            raise UsageError(f"{_where(path, 'accounts')}: accounts {seen[var]!r} and {name!r} would share the password "
                             f"variable {var}: rename one")
        seen[var] = name


def check_several_accounts_env(what: str, env: Mapping[str, str] | None = None) -> None:
    """Refuse XMPPCTL_PASSWORD and XMPPCTL_JID when *what* (e.g. "3 accounts are selected")
    runs several accounts: each would log in with the one secret or JID, offering one
    account's password to every other account's server.  Exit 2, before any login."""
    env = os.environ if env is None else env
    for var in SHARED_ENV:
        if env.get(var):
            kind = "password" if var == "XMPPCTL_PASSWORD" else "JID"
            raise UsageError(f"{var} is set and {what}: it would give every account the same {kind}; unset it "
                             "(each account uses its own XMPPCTL_PASSWORD_<NAME>, password_command, stored "
                             "password or keyring entry)")


def _env_number(env: Mapping[str, str], name: str, kind: type) -> Any:
    value = env.get(name)
    if value in (None, ""):
        return None
    try:
        number = kind(value)
    except ValueError:
        raise UsageError(f"environment {name}: expected a number, got {value!r}") from None
    return number


def _config_summary(config: ConfigFile, *, why_no_default: bool = False) -> str:
    """What the config file offered: missing (and why it was looked for there), or its accounts."""
    origin = f" ({config.origin})" if config.origin else ""
    if not config.exists:
        return f"config file {config.path} does not exist{origin}"
    if not config.accounts:
        return f"config file {config.path} has no accounts"
    known = ", ".join(sorted(config.accounts))
    return f"config file {config.path} has accounts {known}" + (" and no default_account" if why_no_default else "")


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
    shared_env: bool = True,
) -> Account:
    """Merge options (given as arguments), environment and config into one Account.

    *shared_env* False: the account is one of several in this run, so XMPPCTL_JID is not read.
    """
    env = os.environ if env is None else env
    account = account or env.get("XMPPCTL_ACCOUNT") or None
    jid = jid or (env.get("XMPPCTL_JID") if shared_env else None) or None
    table: dict[str, Any] = {}
    name: str | None = None
    if account:
        if account not in config.accounts:
            raise UsageError(f"no account named {account!r}: {_config_summary(config)}")
        name, table = account, config.accounts[account]
    elif not jid and config.default_account:
        name, table = config.default_account, config.accounts[config.default_account]
    elif not jid and len(config.accounts) == 1:
        name, table = next(iter(config.accounts.items()))
    chosen_jid = jid or table.get("jid")
    if not chosen_jid:
        raise UsageError(f"no account: {_config_summary(config, why_no_default=True)}; pass --jid or --account, set XMPPCTL_JID, "
                         "or add one with 'xmppctl account add'")
    chosen_jid = parse_jid(chosen_jid, allow_resource=False, require_local=True).bare
    merged_timeout = timeout or _env_number(env, "XMPPCTL_TIMEOUT", float) or table.get("timeout") or DEFAULT_TIMEOUT
    if merged_timeout <= 0:
        raise UsageError(f"timeout must be positive, got {merged_timeout}")
    merged_port = port or _env_number(env, "XMPPCTL_PORT", int) or table.get("port")
    if merged_port is not None and not 1 <= merged_port <= 65535:
        raise UsageError(f"port must be 1..65535, got {merged_port}")
    chosen_tls = tls or env.get("XMPPCTL_TLS") or table.get("tls")
    merged_tls = chosen_tls or "starttls"
    if merged_tls not in TLS_MODES:
        raise UsageError(f"tls must be one of {', '.join(TLS_MODES)}, got {merged_tls!r}")
    command = table.get("password_command")
    if command is not None:
        command = _command_argv(command)  # validated by load_config: one form, a list, from here on
    merged_server = server or env.get("XMPPCTL_SERVER") or table.get("server")
    if merged_server is not None:
        where = ("--server" if server else "XMPPCTL_SERVER" if env.get("XMPPCTL_SERVER") else
                 f"server of account {name!r}")
        check_server(merged_server, where)
    return Account(
        jid=chosen_jid,
        name=name,
        server=merged_server,
        port=merged_port,
        tls=merged_tls,
        tls_chosen=chosen_tls is not None,
        ca_file=ca_file or env.get("XMPPCTL_CA_FILE") or table.get("ca_file"),
        password_command=command,
        password=table.get("password"),
        timeout=float(merged_timeout),
        output=table.get("output"),
        insecure=bool(insecure) or bool(table.get("insecure", False)),
    )


def check_server(host: str, where: str = "--server") -> str:
    """*host* if it can be looked up (a host name or an IP address); else UsageError (exit 2).

    An undecodable byte in the argument (a lone surrogate), a space or a control character
    used to reach the resolver, which never answered: the run waited for --timeout (exit 5).
    """
    import ipaddress
    import unicodedata

    if any(0xDC80 <= ord(c) <= 0xDCFF for c in host):
        raise UsageError(f"{where}: not valid UTF-8 (an undecodable byte)")
    try:
        ipaddress.ip_address(host[1:-1] if host.startswith("[") and host.endswith("]") else host)
        return host
    except ValueError:
        pass
    bad = next((c for c in host if c.isspace() or unicodedata.category(c) in ("Cc", "Cs", "Cf", "Co", "Cn")), None)
    if not host or bad is not None:
        shown = f"contains U+{ord(bad):04X}" if bad is not None else "empty"
        raise UsageError(f"{where} {host!r}: not a host name ({shown})")
    try:
        host.rstrip(".").encode("idna")
    except UnicodeError as exc:
        raise UsageError(f"{where} {host!r}: not a host name ({str(exc).rpartition('(')[2].rstrip(')').removeprefix('UnicodeError: ') or exc})") from None
    return host


@dataclass(frozen=True)
class PasswordSource:
    """Where a password came from (never the password itself), for messages and ``account show``."""

    #: stdin | env | command | stored | keyring
    kind: str
    #: e.g. "XMPPCTL_PASSWORD", "password_command of account 'work'"
    label: str
    #: a configured source it took precedence over, e.g. "password_command of account 'work'"
    overrides: str | None = None

    def describe(self) -> str:
        text = f"password from {self.label}"
        return text + (f", which overrides {self.overrides}" if self.overrides else "")


def password_env_var(name: str | None) -> str | None:
    """The account's own password variable: XMPPCTL_PASSWORD_<NAME> (upper-cased, '-' as '_')."""
    return f"XMPPCTL_PASSWORD_{name.upper().replace('-', '_')}" if name else None


def password_source(account: Account, *, password_stdin: bool = False,
                    env: Mapping[str, str] | None = None, shared_env: bool = True) -> PasswordSource:
    """The source :func:`read_password` will use, decided without running or reading anything
    (the keyring is the last resort: whether it holds a password is known only when asked).

    *shared_env* False: the account is one of several in this run; XMPPCTL_PASSWORD is not read.
    """
    env = os.environ if env is None else env
    whose = f"account {account.name!r}" if account.name else account.jid
    configured = None
    if account.password_command:
        configured = PasswordSource("command", f"password_command of {whose}")
    elif account.password:
        configured = PasswordSource("stored", f"the password stored in the config file for {whose}")
    shadowed = configured.label if configured else None
    own = password_env_var(account.name)
    if password_stdin:
        return PasswordSource("stdin", "--password-stdin", shadowed)
    for var in (own, "XMPPCTL_PASSWORD" if shared_env else None):
        if var and env.get(var):
            return PasswordSource("env", var, shadowed)
    if configured:
        return configured
    return PasswordSource("keyring", f"the keyring (service {KEYRING_SERVICE!r}, user {account.jid!r})")


async def fetch_password(
    account: Account,
    *,
    password_stdin: bool = False,
    stdin: TextIO | None = None,
    env: Mapping[str, str] | None = None,
    shared_env: bool = True,
    timeout: float | None = None,
) -> tuple[str, PasswordSource]:
    """The password from the first source that has one (see the module docs), and that source.

    Awaited inside the event loop: a ``password_command`` runs as a child process and the
    keyring is asked in a thread, both within *timeout* (default: the account's), so other
    accounts' sessions keep running meanwhile.  A command still running at the deadline is
    killed with its whole process group (TimeoutFailure, exit 5).
    """
    env = os.environ if env is None else env
    limit = account.timeout if timeout is None else timeout
    source = password_source(account, password_stdin=password_stdin, env=env, shared_env=shared_env)
    if source.kind == "stdin":
        return _password_from_stdin(stdin, account.jid), source
    if source.kind == "env":
        return env[source.label], source
    if source.kind == "command":
        assert account.password_command is not None
        return await _run_password_command(account.password_command, source.label, limit), source
    if source.kind == "stored":
        assert account.password is not None
        return account.password, source
    secret = await _keyring_password(account.jid, limit)
    if secret:
        return secret, source
    own = password_env_var(account.name)
    shared = "XMPPCTL_PASSWORD, " if shared_env else ""
    raise UsageError(
        f"no password for {account.jid}: use --password-stdin, {own + ', ' if own else ''}{shared}"
        "password_command in the config, or the keyring"
    )


def read_password_and_source(
    account: Account,
    *,
    password_stdin: bool = False,
    stdin: TextIO | None = None,
    env: Mapping[str, str] | None = None,
    shared_env: bool = True,
) -> tuple[str, PasswordSource]:
    """:func:`fetch_password` for code outside an event loop (scripts, ``presence explain``'s peer)."""
    import asyncio

    return asyncio.run(fetch_password(account, password_stdin=password_stdin, stdin=stdin, env=env,
                                      shared_env=shared_env))


def read_password(account: Account, **options: Any) -> str:
    """The password alone: :func:`read_password_and_source` (same keyword options)."""
    return read_password_and_source(account, **options)[0]


def read_password_to_store(
    jid: str,
    *,
    name: str | None = None,
    password_stdin: bool = False,
    stdin: TextIO | None = None,
    env: Mapping[str, str] | None = None,
) -> str:
    """The password ``account add --store-password`` writes: from --password-stdin,
    XMPPCTL_PASSWORD_<NAME> or XMPPCTL_PASSWORD only, never from a password_command or the
    keyring (a secret kept there must not end up in a clear-text file)."""
    env = os.environ if env is None else env
    if password_stdin:
        return _password_from_stdin(stdin, jid)
    for var in (password_env_var(name), "XMPPCTL_PASSWORD"):
        if var and env.get(var):
            return env[var]
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


#: how much of a failed password_command's stderr an error message quotes
COMMAND_STDERR_CHARS = 300


def _command_stderr(text: str) -> str:
    """A failed command's stderr for a one-line message: lines joined, escaped, the end kept."""
    from .text import safe_text

    lines = [line.strip() for line in text.splitlines() if line.strip()]
    joined = safe_text(" | ".join(lines))
    return joined if len(joined) <= COMMAND_STDERR_CHARS else "..." + joined[-COMMAND_STDERR_CHARS:]


async def _run_password_command(argv: list[str], label: str, timeout: float) -> str:
    """The first line the command prints.  A failure is a configuration problem (exit 2, nothing
    was sent) quoting the command's stderr; past *timeout* its process group is killed (exit 5).
    Messages name the program only, never the arguments (they may hold a token)."""
    import asyncio

    from .errors import TimeoutFailure

    program = argv[0]
    # its own session, so that a timeout kills what it started too (sh -c, gpg, pinentry...)
    spawn = asyncio.ensure_future(asyncio.create_subprocess_exec(
        *argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True))
    try:
        proc = await asyncio.shield(spawn)
    except asyncio.CancelledError:
        # interrupted while it was being started: it may already run, with children holding
        # its pipes (asyncio would wait for them); end its whole group, then go on being cancelled
        await _end_group_of(spawn)
        raise
    except FileNotFoundError:
        raise UsageError(f"{label}: {program}: command not found") from None
    except PermissionError:
        raise UsageError(f"{label}: {program}: permission denied") from None
    except OSError as exc:
        raise UsageError(f"{label}: {program}: cannot run it: {exc.strerror or exc}") from None
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except asyncio.TimeoutError:
        raise TimeoutFailure(f"{label}: {program} did not finish within {timeout:g} s; "
                             "it was stopped with its process group") from None
    finally:
        if proc.returncode is None:  # the deadline, or the run was interrupted: end all it started
            _kill_group(proc.pid)
            await asyncio.shield(proc.wait())
    stderr = _command_stderr(err.decode("utf-8", "replace"))
    said = f": {stderr}" if stderr else " (nothing on stderr)"
    if proc.returncode != 0:
        raise UsageError(f"{label}: {program} exited with status {proc.returncode}{said}")
    try:
        text = out.split(b"\n", 1)[0].decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{label}: {program} printed a password that is not valid UTF-8") from None
    first = text.splitlines()[0] if text else ""
    if not first:
        raise UsageError(f"{label}: {program} printed no password{said}")
    return first


def _kill_group(pid: int) -> None:
    import signal

    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


async def _end_group_of(spawn: Any) -> None:
    """Once the interrupted start of a password command is over, kill its process group and
    wait for it (shielded: the caller is being cancelled)."""
    import asyncio

    try:
        proc = await asyncio.shield(spawn)
    except BaseException:  # it never started, or we are cancelled again: nothing of it to wait for
        return
    _kill_group(proc.pid)
    await asyncio.shield(proc.wait())


def _keyring_lookup(jid: str) -> str | None:
    try:
        import keyring  # optional extra
    except ImportError:
        return None
    try:
        return keyring.get_password(KEYRING_SERVICE, jid)
    except Exception:  # a broken keyring backend must not hide the other sources' error
        return None


async def _keyring_password(jid: str, timeout: float) -> str | None:
    """The keyring's password for *jid*, asked in a daemon thread (a backend may block on D-Bus
    or a prompt); TimeoutFailure after *timeout*, the thread is left behind and never waited for."""
    import asyncio
    import threading

    from .errors import TimeoutFailure

    loop = asyncio.get_running_loop()
    answer: asyncio.Future[str | None] = loop.create_future()

    def deliver(value: str | None) -> None:
        if not answer.done():
            answer.set_result(value)

    def ask() -> None:
        value = _keyring_lookup(jid)
        try:
            loop.call_soon_threadsafe(deliver, value)
        except RuntimeError:  # the loop is gone: nobody waits any more
            pass

    threading.Thread(target=ask, name="xmppctl-keyring", daemon=True).start()
    try:
        return await asyncio.wait_for(answer, timeout)
    except asyncio.TimeoutError:
        raise TimeoutFailure(f"the keyring did not answer within {timeout:g} s (service {KEYRING_SERVICE!r}, "
                             f"user {jid!r})") from None


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

    from .fsutil import atomic_write

    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    atomic_write(path, lambda f: tomli_w.dump(data, f), binary=True, fsync=True)


@dataclass
class AccountChange:
    """What a write did to one account: the CLI's message (values shown, stored passwords never)."""

    path: Path
    name: str
    #: added | replaced | updated | removed
    action: str
    #: one phrase per changed key, e.g. "server 'a' -> 'b'", "password_command dropped (was [...])"
    changes: list[str] = field(default_factory=list)
    default_before: str | None = None
    default_after: str | None = None
    #: the accounts left in the file
    remaining: list[str] = field(default_factory=list)

    def summary(self) -> str:
        where = {"removed": "from", "added": "to"}.get(self.action, "in")
        text = f"account {self.name!r} {self.action} {where} {self.path}"
        if self.action in ("replaced", "updated"):
            text = (text + ": " + "; ".join(self.changes)) if self.changes else f"account {self.name!r} unchanged in {self.path}"
        if self.default_after == self.name and self.default_before != self.name:
            text += f"; it is now the default account (was {self.default_before!r})" if self.default_before else "; it is the default account"
        elif self.default_before == self.name and self.default_after is None:
            text += "; " + _no_default_left(self.remaining)
        return text


def _no_default_left(remaining: list[str]) -> str:
    if not remaining:
        return "it was the default account, and no account is left"
    if len(remaining) == 1:
        return f"it was the default account: now no default is set, and the only account left, {remaining[0]!r}, is used when none is named"
    return ("it was the default account: now no default is set, so commands need --account or --jid "
            "(set one with 'xmppctl account set NAME --default')")


def _shown(key: str, value: Any) -> str:
    import json

    if key == "password":
        return "(secret)"
    return json.dumps(_command_argv(value) if key == "password_command" else value, ensure_ascii=False)


def _table_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Per key of ACCOUNT_KEYS, what differs between two account tables (password values never shown)."""
    out = []
    for key in ACCOUNT_KEYS:
        before, after = old.get(key), new.get(key)
        if key == "password_command":
            before, after = (None if v is None else _command_argv(v) for v in (before, after))
        if before == after:
            continue
        if key == "password":
            out.append("stored password " + ("set" if before is None else "dropped" if after is None else "replaced"))
        elif before is None:
            out.append(f"{key} set to {_shown(key, after)}")
        elif after is None:
            out.append(f"{key} dropped (was {_shown(key, before)})")
        else:
            out.append(f"{key} {_shown(key, before)} -> {_shown(key, after)}")
    return out


def _normalised(table: Mapping[str, Any]) -> dict[str, Any]:
    """The table as written: no None values, password_command as a list (the one form we write)."""
    out = {k: v for k, v in table.items() if v is not None}
    if "password_command" in out:
        out["password_command"] = _command_argv(out["password_command"]) or out["password_command"]
    return out


def _under_config_lock(change: Callable[..., AccountChange]) -> Callable[..., AccountChange]:
    """Run a read-change-write of the config holding its lock: concurrent changes queue up and
    none is lost (without it, 12 concurrent adds left 2 accounts)."""
    import functools

    @functools.wraps(change)
    def locked(path: Path, *args: Any, **kwargs: Any) -> AccountChange:
        from .locks import config_lock

        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with config_lock(path):
            return change(path, *args, **kwargs)

    return locked


@_under_config_lock
def add_account(path: Path, name: str, table: dict[str, Any], *, make_default: bool = False,
                replace: bool = False) -> AccountChange:
    """Add account *name*; an existing one is replaced only with *replace* (its other keys are dropped)."""
    if not name or not name.replace("-", "").replace("_", "").isalnum():
        raise UsageError(f"account name {name!r}: use letters, digits, '-' and '_'")
    data = _read_raw(path)
    candidate = _normalised(table)
    _check_account(path, name, candidate)
    accounts = data.setdefault("accounts", {})
    check_password_variables(path, {**accounts, name: None})
    old = accounts.get(name)
    if old is not None and not replace:
        dropped = [k for k in old if k not in candidate]
        loses = f" (it would drop {', '.join(dropped)})" if dropped else ""
        raise UsageError(f"account {name!r} already exists in {path}: pass --force to replace it{loses}, "
                         f"or change single keys with 'xmppctl account set {name}'")
    before = data.get("default_account")
    accounts[name] = candidate
    if make_default or not before:
        data["default_account"] = name
    write_config(path, data)
    return AccountChange(path, name, "added" if old is None else "replaced",
                         _table_changes(old or {}, candidate), before, data.get("default_account"), sorted(accounts))


@_under_config_lock
def update_account(path: Path, name: str, values: Mapping[str, Any], *, unset: Iterable[str] = (),
                   make_default: bool = False) -> AccountChange:
    """Set the keys in *values* (None: leave as is) and drop those in *unset*; validated like add."""
    data = _read_raw(path)
    accounts = data.get("accounts", {})
    if name not in accounts:
        raise UsageError(f"no account named {name!r} in {path} (add it with 'xmppctl account add')")
    unset = list(dict.fromkeys(unset))
    for key in unset:
        if key not in ACCOUNT_KEYS or key == "jid":
            allowed = ", ".join(k for k in ACCOUNT_KEYS if k != "jid")
            raise UsageError(f"--unset {key}: " + ("every account needs a jid" if key == "jid" else f"unknown key (known: {allowed})"))
        if values.get(key) is not None:
            raise UsageError(f"--unset {key}: the same command also sets {key}")
    old = accounts[name]
    new = _normalised({**old, **_normalised(values)})
    for key in unset:
        new.pop(key, None)
    _check_account(path, name, new)
    before = data.get("default_account")
    changes = _table_changes(old, new)
    if changes or new != old or (make_default and before != name):
        accounts[name] = new
        if make_default:
            data["default_account"] = name
        write_config(path, data)
    return AccountChange(path, name, "updated", changes, before, data.get("default_account"), sorted(accounts))


@_under_config_lock
def remove_account(path: Path, name: str, *, force: bool = False) -> AccountChange:
    """Remove account *name*; the default account only with *force*, leaving no default."""
    data = _read_raw(path)
    if name not in data.get("accounts", {}):
        raise UsageError(f"no account named {name!r} in {path}")
    before = data.get("default_account")
    if before == name and not force:
        raise UsageError(f"account {name!r} is the default account in {path}: pass --force to remove it "
                         "(no account becomes the default), or first make another one the default "
                         "with 'xmppctl account set NAME --default'")
    del data["accounts"][name]
    if before == name:
        data.pop("default_account")
    write_config(path, data)
    return AccountChange(path, name, "removed", [], before, data.get("default_account"), sorted(data["accounts"]))
