"""Generated docs: shell completion scripts that work, a man page that renders, no stale copies."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GEN_DOCS = REPO / "scripts" / "gen_docs.py"
GENERATED = ["README.md", "docs/cli.md", "man/xmppctl.1", "completions/xmppctl.bash", "completions/_xmppctl", "completions/xmppctl.fish"]


@pytest.fixture
def xmppctl_on_path(tmp_path, monkeypatch):
    """An ``xmppctl`` on PATH that runs this checkout, as the completion scripts call it by name."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    wrapper = bindir / "xmppctl"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m xmppctl "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    return wrapper


def bash_complete(*words: str) -> list[str]:
    """What bash offers for the last word of ``words`` with completions/xmppctl.bash sourced."""
    script = REPO / "completions" / "xmppctl.bash"
    func = re.search(r"complete .*-F (\S+) xmppctl", script.read_text()).group(1)
    array = " ".join(f"'{w}'" for w in words)
    program = (
        f"source '{script}'\n"
        f"COMP_WORDS=({array}); COMP_CWORD={len(words) - 1}\n"
        f"{func} xmppctl '{words[-1]}' '{words[-2] if len(words) > 1 else ''}'\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    proc = subprocess.run(["bash", "--norc", "--noprofile", "-c", program], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return [line for line in proc.stdout.splitlines() if line]


def gen_docs(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(GEN_DOCS), *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


# ---- completion -----------------------------------------------------------------------------


def test_bash_completes_ro_to_roster(xmppctl_on_path):
    assert bash_complete("xmppctl", "ro") == ["roster"]


def test_bash_completes_subcommand_options(xmppctl_on_path):
    assert "--ungrouped" in bash_complete("xmppctl", "roster", "list", "--")


def test_bash_completes_account_names_from_the_config(xmppctl_on_path, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[accounts.work]\njid = "a@example.org"\n[accounts.home]\njid = "b@example.org"\n'
                   '[accounts.wiki]\njid = "c@example.org"\n')
    assert bash_complete("xmppctl", "--config", str(cfg), "-a", "w") == ["wiki", "work"]


def test_bash_completes_groups_from_the_selected_accounts_roster_cache(xmppctl_on_path):
    from xmppctl.cli.complete import save_roster_cache
    from xmppctl.roster.items import RosterItem

    save_roster_cache("me@example.org", [RosterItem("a@x.org", groups=("Friends", "Family")), RosterItem("b@x.org", groups=("Work",))])
    save_roster_cache("other@example.org", [RosterItem("c@x.org", groups=("Fans",))])
    assert bash_complete("xmppctl", "--jid", "me@example.org", "roster", "list", "--group", "F") == ["Family", "Friends"]


def test_completers_offer_nothing_rather_than_fail_on_a_broken_config(monkeypatch, tmp_path):
    from xmppctl.cli.complete import complete_account, complete_group, complete_jid

    bad = tmp_path / "bad.toml"
    bad.write_text("this is [not toml")
    monkeypatch.setenv("XMPPCTL_CONFIG", str(bad))
    assert complete_account(None, "") == [] and complete_group(None, "") == [] and complete_jid(None, "") == []


def test_jid_completion_reads_the_cache_only(monkeypatch):
    from xmppctl.cli.complete import complete_jid, save_roster_cache
    from xmppctl.roster.items import RosterItem

    monkeypatch.setenv("XMPPCTL_JID", "me@example.org")
    save_roster_cache("me@example.org", [RosterItem("alice@x.org"), RosterItem("bob@x.org"), RosterItem("amy@y.org")])
    assert complete_jid(None, "a") == ["alice@x.org", "amy@y.org"]


def test_roster_cache_is_private(tmp_path):
    from xmppctl.cli.complete import roster_cache_path, save_roster_cache

    save_roster_cache("me@example.org", [])
    path = roster_cache_path("me@example.org")
    assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize(
    "shell, env",
    [
        ("zsh", {"_TYPER_COMPLETE_ARGS": "xmppctl ro"}),
        ("fish", {"_TYPER_COMPLETE_ARGS": "xmppctl ro", "_TYPER_COMPLETE_FISH_ACTION": "get-args"}),
    ],
)
def test_zsh_and_fish_protocols_answer_with_commands(xmppctl_on_path, shell, env):
    # zsh and fish are not installed here: check the answer the scripts in completions/ ask for
    script = (REPO / "completions" / ("_xmppctl" if shell == "zsh" else "xmppctl.fish")).read_text()
    assert f"_XMPPCTL_COMPLETE=complete_{shell}" in script
    proc = subprocess.run(["xmppctl"], capture_output=True, text=True, timeout=30,
                          env={**os.environ, **env, "_XMPPCTL_COMPLETE": f"complete_{shell}"})
    assert proc.returncode == 0 and "roster" in proc.stdout, proc.stderr


def test_completion_stays_offline_and_light(xmppctl_on_path):
    # TAB must not pay for (or risk) the network stack: slixmpp is never imported
    code = (
        "import atexit, os, sys\n"
        "os.environ.update(_XMPPCTL_COMPLETE='complete_bash', COMP_WORDS='xmppctl roster list --group ', COMP_CWORD='4')\n"
        "atexit.register(lambda: sys.stderr.write(' '.join(m for m in ('slixmpp', 'tabulate') if m in sys.modules)))\n"
        "from xmppctl.cli import main\n"
        "main([])\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr


def test_zsh_script_starts_with_compdef():
    assert (REPO / "completions" / "_xmppctl").read_text().startswith("#compdef xmppctl\n")


# ---- man page -------------------------------------------------------------------------------


@pytest.mark.parametrize("device", ["ascii", "utf8"])  # what man uses in the C and in a UTF-8 locale
def test_man_page_renders_without_warnings(device):
    groff = shutil.which("groff")
    assert groff, "groff is missing: scripts/setup-env --test installs groff-base"
    proc = subprocess.run([groff, "-ww", "-man", f"-T{device}", str(REPO / "man" / "xmppctl.1")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    text = re.sub(r".\x08", "", proc.stdout)  # drop overstrike bold/underline
    for heading in ("NAME", "SYNOPSIS", "GLOBAL OPTIONS", "COMMANDS", "EXIT STATUS", "ENVIRONMENT", "FILES", "EXAMPLES"):
        assert re.search(rf"^{heading}$", text, re.M), heading


def test_man_page_documents_every_command_exit_code_and_variable():
    import typer.main

    from xmppctl.cli import app
    from xmppctl.errors import EXIT_CODES

    page = (REPO / "man" / "xmppctl.1").read_text().replace("\\-", "-").replace("\\:", "")
    def walk(cmd, ctx):
        for name in getattr(cmd, "list_commands", lambda _ctx: [])(ctx):
            sub = cmd.get_command(ctx, name)
            sub_ctx = typer.Context(sub, parent=ctx, info_name=name)
            assert f".SS {sub_ctx.command_path} " in page, sub_ctx.command_path
            for param in sub.params:
                if getattr(param, "hidden", False):  # old spellings kept as aliases
                    continue
                for opt in param.opts if param.param_type_name == "option" else ():
                    assert opt in page, (sub_ctx.command_path, opt)
            walk(sub, sub_ctx)

    root = typer.main.get_command(app)
    walk(root, typer.Context(root, info_name="xmppctl"))
    for code in EXIT_CODES:
        assert f".B {int(code)}\n" in page
    for var in ("XMPPCTL_CONFIG", "XMPPCTL_ACCOUNT", "XMPPCTL_JID", "XMPPCTL_PASSWORD", "XMPPCTL_SERVER",
                "XMPPCTL_PORT", "XMPPCTL_TLS", "XMPPCTL_CA_FILE", "XMPPCTL_TIMEOUT"):
        assert f".B {var}\n" in page, var


# ---- staleness ------------------------------------------------------------------------------


def test_generated_files_in_the_tree_are_current():
    proc = gen_docs("--check")
    assert proc.returncode == 0, f"{proc.stderr}\nrun: python3 scripts/gen_docs.py"


@pytest.fixture
def docs_copy(tmp_path):
    """A fresh generation into a copy of the tree's generated files (the real ones stay untouched)."""
    root = tmp_path / "copy"
    for rel in GENERATED:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO / rel, root / rel)
    proc = gen_docs("--root", str(root))
    assert proc.returncode == 0, proc.stderr
    return root


@pytest.mark.parametrize("rel", GENERATED)
def test_check_detects_a_stale_file(docs_copy, rel):
    path = docs_copy / rel
    text = path.read_text()
    # an option or command renamed in the docs but not in the code
    if "--ungrouped" in text:
        stale = text.replace("--ungrouped", "--no-group")
    elif "roster list" in text:
        stale = text.replace("roster list", "roster lst")
    else:
        stale = text + "\n# stale\n"
    assert stale != text
    path.write_text(stale)
    proc = gen_docs("--check", "--root", str(docs_copy))
    assert proc.returncode == 1 and rel in proc.stderr, proc.stderr
    assert path.read_text() == stale  # --check writes nothing


def test_check_detects_a_missing_file(docs_copy):
    (docs_copy / "completions" / "xmppctl.fish").unlink()
    proc = gen_docs("--check", "--root", str(docs_copy))
    assert proc.returncode == 1 and "completions/xmppctl.fish" in proc.stderr


def test_generation_does_not_depend_on_terminal_or_caller_environment(docs_copy):
    proc = gen_docs("--check", "--root", str(docs_copy),
                    env={"COLUMNS": "37", "LINES": "5", "XMPPCTL_ACCOUNT": "work", "TERM": "dumb", "SHELL": "/bin/zsh"})
    assert proc.returncode == 0, proc.stderr


def test_readme_reference_is_spliced_between_markers_only(docs_copy):
    readme = docs_copy / "README.md"
    before, _, rest = readme.read_text().partition("<!-- cli-reference:start -->")
    readme.write_text(before + "<!-- cli-reference:start -->\nold\n<!-- cli-reference:end -->" + rest.partition("<!-- cli-reference:end -->")[2])
    assert gen_docs("--root", str(docs_copy)).returncode == 0
    text = readme.read_text()
    assert text.startswith(before) and "\nold\n" not in text and "`xmppctl roster list`" in text
