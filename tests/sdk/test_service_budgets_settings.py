"""The service's session and login budgets as options: named defaults, shared among worker
processes, checked before anything starts."""

from __future__ import annotations

import pytest

from connector.sdk.cli import Invocation
from connector.sdk.service import cli
from connector.sdk.service.settings import CONFIG_ENV, Settings

SERVE = Invocation(prog="connector", command="serve", connector=None, source=None, bound=False)


def test_the_session_caps_are_shared_among_workers_and_travel_to_them(monkeypatch):
    settings = Settings(workers=4, sessions_per_tenant=64, max_sessions=256, failed_logins=5)
    assert (settings.tenant_sessions, settings.pool_sessions) == (16, 64)
    assert Settings(workers=8, sessions_per_tenant=3).tenant_sessions == 1  # never 0
    monkeypatch.setenv(CONFIG_ENV, settings.to_env())
    assert Settings.from_env() == settings


def test_the_options_set_the_budgets_and_default_to_the_named_defaults():
    parser = cli.parser(SERVE)
    args = parser.parse_args([])
    defaults = Settings()
    assert (args.sessions_per_tenant, args.max_sessions) == (64, 256)
    assert (args.failed_logins, args.login_backoff) == (3, 60.0)
    assert args.max_sessions == defaults.max_sessions
    args = parser.parse_args(["--sessions-per-tenant", "8", "--login-backoff", "5"])
    assert (args.sessions_per_tenant, args.login_backoff) == (8, 5.0)


@pytest.mark.parametrize(
    ("option", "value", "problem"),
    [
        ("--sessions-per-tenant", "0", "--sessions-per-tenant must be at least 1"),
        ("--max-sessions", "0", "--max-sessions must be at least 1"),
        ("--failed-logins", "0", "--failed-logins must be at least 1"),
        ("--login-backoff", "0", "--login-backoff must be more than 0 seconds"),
    ],
)
def test_a_budget_below_its_floor_is_named_before_anything_starts(option, value, problem):
    args = cli.parser(SERVE).parse_args(["--no-auth", option, value])
    assert cli._problem(args) == problem
