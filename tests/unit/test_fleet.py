"""Fleet mode, pure parts: account selection, exit codes, row prefixes, the bounded runner."""

from __future__ import annotations

import asyncio

import pytest

from xmppctl.errors import AuthError, DriftFound, Interrupted, PartialFailure, ServerRefused, TimeoutFailure, UsageError
from xmppctl.fleet.run import (
    AccountOutcome,
    error_line,
    error_row,
    export_paths,
    fleet_exit_code,
    fleet_mode,
    prefix_columns,
    prefix_rows,
    run_bounded,
    select_accounts,
    validate_parallel,
)

NAMES = ["work", "bot-eu", "bot-us", "home", "bot[1]", "bot1"]


# ---- selection ------------------------------------------------------------------------------


def test_globs_select_in_config_order_without_duplicates():
    assert select_accounts(NAMES, ["home", "bot-*", "bot-eu"], False) == ["bot-eu", "bot-us", "home"]


def test_all_accounts_selects_every_account_in_config_order():
    assert select_accounts(NAMES, [], True) == NAMES


def test_pattern_matching_nothing_is_a_usage_error_naming_it():
    with pytest.raises(UsageError) as err:
        select_accounts(NAMES, ["bot-*", "db-*", "nobody"], False)
    assert err.value.exit_code == 2
    assert "'db-*'" in err.value.message and "'nobody'" in err.value.message
    assert "'bot-*'" not in err.value.message


def test_exact_name_with_glob_characters_selects_only_that_account():
    assert select_accounts(NAMES, ["bot[1]"], False) == ["bot[1]"]
    # not a name: a glob, where [1] is a character class
    assert select_accounts(NAMES, ["bot[1]*"], False) == ["bot1"]


def test_globs_are_case_sensitive_like_config_keys():
    with pytest.raises(UsageError):
        select_accounts(NAMES, ["BOT-*"], False)


def test_plain_name_that_is_not_configured_is_refused():
    with pytest.raises(UsageError, match="'wor'"):
        select_accounts(NAMES, ["wor"], False)


def test_no_selection_means_the_single_default_account():
    assert select_accounts(NAMES, [], False) == []


@pytest.mark.parametrize("patterns, all_accounts, names", [
    (["work"], True, NAMES),     # both ways of selecting at once
    ([], True, []),              # nothing to select
    ([""], False, NAMES),        # an empty -a
    (["  "], False, NAMES),
])
def test_bad_selections_are_usage_errors(patterns, all_accounts, names):
    with pytest.raises(UsageError):
        select_accounts(names, patterns, all_accounts)


@pytest.mark.parametrize("patterns, all_accounts, expected", [
    (["work"], False, False),
    (["bot[1]"], False, False),  # an exact name, even with glob characters
    (["work", "home"], False, True),
    (["bot-*"], False, True),
    (["home*"], False, True),    # a glob stays fleet mode even when it matches one account
    ([], True, True),
])
def test_fleet_mode_depends_on_the_command_line_not_on_the_match_count(patterns, all_accounts, expected):
    assert fleet_mode(NAMES, patterns, all_accounts) is expected


@pytest.mark.parametrize("value", [0, -1, True, 1.5, "4"])
def test_parallel_must_be_a_positive_integer(value):
    with pytest.raises(UsageError):
        validate_parallel(value)


# ---- exit codes -----------------------------------------------------------------------------


def ok(name="a"):
    return AccountOutcome(name, rows=[{"jid": "x@y"}])


def failed(exc, name="b"):
    return AccountOutcome(name, error=exc)


def test_all_succeeded_is_0_and_no_accounts_is_0():
    assert fleet_exit_code([ok("a"), ok("b")]) == 0
    assert fleet_exit_code([]) == 0


def test_some_failed_is_7():
    assert fleet_exit_code([ok(), failed(AuthError("bad password"))]) == 7


def test_all_failed_for_the_same_reason_is_that_code():
    assert fleet_exit_code([failed(AuthError("x"), "a"), failed(AuthError("y"), "b"), failed(AuthError("z"), "c")]) == 3


def test_all_failed_for_different_reasons_is_1():
    assert fleet_exit_code([failed(AuthError("x"), "a"), failed(TimeoutFailure("y"), "b")]) == 1


def test_a_bug_in_one_account_counts_as_failure_1():
    outcome = failed(RuntimeError("boom"))
    assert outcome.exit_code == 1
    assert fleet_exit_code([outcome, failed(RuntimeError("again"), "c")]) == 1


def test_drift_is_not_a_failure():
    drifted = AccountOutcome("a", rows=[], drift=True)
    assert fleet_exit_code([drifted, ok("b")]) == 10
    assert fleet_exit_code([drifted, failed(AuthError("x"))]) == 7


def test_partial_failure_inside_every_account_keeps_7():
    assert fleet_exit_code([failed(PartialFailure("1 of 3"), "a"), failed(PartialFailure("2 of 3"), "b")]) == 7


# ---- rows -----------------------------------------------------------------------------------


def test_prefix_rows_puts_account_first():
    rows = prefix_rows("work", [{"jid": "a@x", "name": None}])
    assert rows == [{"account": "work", "jid": "a@x", "name": None}]
    assert list(rows[0]) == ["account", "jid", "name"]
    assert prefix_columns(("jid", "name")) == ("account", "jid", "name")


def test_prefix_rows_refuses_a_row_that_already_has_an_account_key():
    with pytest.raises(ValueError):
        prefix_rows("work", [{"account": "other"}])


def test_error_row_uses_the_exit_code_names():
    assert error_row("work", AuthError("authentication failed")) == {
        "account": "work", "error": "auth", "message": "authentication failed", "exit": 3}
    row = error_row("work", ServerRefused("nope", condition="forbidden"))
    assert (row["error"], row["exit"], row["condition"]) == ("refused", 6, "forbidden")


def test_error_row_for_an_unexpected_exception_is_failure_1():
    assert error_row("w", RuntimeError()) == {"account": "w", "error": "failure", "message": "RuntimeError", "exit": 1}


def test_error_line_names_the_account_and_the_code():
    assert error_line("work", AuthError("authentication failed")) == "xmppctl: work: authentication failed (exit 3: auth)"


# ---- the bounded runner ---------------------------------------------------------------------


def run(coro):
    return asyncio.run(coro)


def test_outcomes_come_in_selection_order_whatever_order_they_finish_in():
    async def main():
        gate = asyncio.Event()

        async def a():
            await gate.wait()  # finishes after b
            return [{"n": "a"}]

        async def b():
            gate.set()
            return [{"n": "b"}]

        return await run_bounded({"a": a, "b": b}, parallel=2)

    outcomes = run(main())
    assert [(o.account, o.rows) for o in outcomes] == [("a", [{"n": "a"}]), ("b", [{"n": "b"}])]


def test_at_most_parallel_jobs_run_at_once_and_that_many_do():
    running = 0
    peak = 0
    started = []

    def job(name):
        async def coro():
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            for _ in range(5):
                await asyncio.sleep(0)
            running -= 1
            return []
        started.append(name)
        return coro()

    outcomes = run(run_bounded({f"u{i}": (lambda i=i: job(f"u{i}")) for i in range(7)}, parallel=3))
    assert peak == 3
    assert started == [f"u{i}" for i in range(7)]
    assert all(o.ok for o in outcomes)


def test_factories_are_called_only_when_a_slot_is_free():
    calls = []

    async def main():
        gate = asyncio.Event()

        def factory(name):
            def make():
                calls.append(name)
                return coro()

            async def coro():
                await gate.wait()
                return []
            return make

        task = asyncio.ensure_future(run_bounded({n: factory(n) for n in "abcd"}, parallel=2))
        for _ in range(5):
            await asyncio.sleep(0)
        before = list(calls)
        gate.set()
        await task
        return before

    assert run(main()) == ["a", "b"]
    assert calls == ["a", "b", "c", "d"]


def test_a_failing_account_never_cancels_the_others():
    async def main():
        gate = asyncio.Event()

        async def slow():
            await gate.wait()
            return [{"ok": True}]

        async def broken():
            raise AuthError("authentication failed")

        async def releaser():
            await asyncio.sleep(0)
            gate.set()
            return []

        def not_even_a_coroutine():
            raise RuntimeError("bad factory")

        return await run_bounded({"a": slow, "b": broken, "c": not_even_a_coroutine, "d": releaser}, parallel=4)

    a, b, c, d = run(main())
    assert a.ok and a.rows == [{"ok": True}]
    assert isinstance(b.error, AuthError) and b.exit_code == 3
    assert isinstance(c.error, RuntimeError) and c.exit_code == 1
    assert d.ok


def test_a_job_may_return_its_own_outcome():
    async def drifted():
        return AccountOutcome("a", rows=[{"x": 1}], drift=True)

    [outcome] = run(run_bounded({"a": drifted}, parallel=1))
    assert outcome.drift and outcome.exit_code == 10


def test_progress_counts_accounts_done_of_total():
    calls = []

    async def job():
        return []

    run(run_bounded({n: job for n in "abc"}, parallel=2, progress=lambda done, total: calls.append((done, total))))
    assert calls == [(1, 3), (2, 3), (3, 3)]


def test_no_accounts_runs_nothing():
    assert run(run_bounded({}, parallel=4)) == []


def test_cancellation_propagates_and_cancels_every_running_job():
    closed = []

    async def main():
        gate = asyncio.Event()

        def job(name):
            async def coro():
                try:
                    await gate.wait()
                finally:
                    closed.append(name)  # where a session would close
            return coro

        task = asyncio.ensure_future(run_bounded({n: job(n) for n in "abc"}, parallel=2))
        for _ in range(3):
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(main())
    assert sorted(closed) == ["a", "b"]  # c never started


def test_interrupted_in_one_job_stops_the_run_and_cancels_the_others():
    closed = []

    async def main():
        async def waits():
            try:
                await asyncio.Event().wait()
            finally:
                closed.append("a")

        async def interrupted():
            await asyncio.sleep(0)
            raise Interrupted("interrupted by SIGTERM")

        await run_bounded({"a": waits, "b": interrupted}, parallel=2)

    with pytest.raises(Interrupted):
        run(main())
    assert closed == ["a"]


def test_keyboard_interrupt_propagates():
    async def job():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(run_bounded({"a": job}, parallel=1))


def test_drift_found_raised_by_a_job_counts_as_drift_not_as_failure():
    async def job():
        raise DriftFound("roster drifted")

    [outcome] = run(run_bounded({"a": job}, parallel=1))
    assert outcome.exit_code == 10
    assert fleet_exit_code([outcome, ok("b")]) == 10


# ---- export file names ------------------------------------------------------------------------


def test_export_paths_put_each_account_name_in_place_of_the_placeholder():
    assert export_paths("out/{account}.toml", ["a", "b"]) == {"a": "out/a.toml", "b": "out/b.toml"}
    assert export_paths("{account}/{account}.json", ["x"]) == {"x": "x/x.json"}


@pytest.mark.parametrize("template", [None, "", "-", "all.toml", "{Account}.toml"])
def test_export_paths_without_the_placeholder_are_refused(template):
    with pytest.raises(UsageError, match=r"\{account\}"):
        export_paths(template, ["a", "b"])


def test_export_paths_refuse_two_accounts_naming_the_same_file():
    with pytest.raises(UsageError, match="'b' and 'x/../b' would both write"):
        export_paths("{account}.toml", ["b", "x/../b"])
