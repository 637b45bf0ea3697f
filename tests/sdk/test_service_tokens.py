"""Service and metrics tokens at start-up: one token for two tenants (the file's order would
silently pick one) and tokens shorter than 16 characters stop ``serve`` with a usage error
that names the variable or the file and line, never the token."""

from __future__ import annotations

import pytest

from connector.sdk.cli import main
from connector.sdk.service.auth import (
    METRICS_TOKEN_ENV,
    MIN_TOKEN_CHARS,
    TOKEN_ENV,
    TokenFileError,
    read_metrics_tokens,
    read_tokens,
)

GOOD = "g" * MIN_TOKEN_CHARS
SHARED = "shared-token-0123456789"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    monkeypatch.delenv(METRICS_TOKEN_ENV, raising=False)


def test_one_token_for_two_tenants_is_refused_naming_both_lines(tmp_path):
    path = tmp_path / "tokens"
    path.write_text(f"# tenants\na: {SHARED}\nb: {GOOD}\n\nc: {SHARED}\n")
    with pytest.raises(TokenFileError) as info:
        read_tokens(str(path))
    said = str(info.value)
    assert f"{path}:2 and {path}:5 give the same token" in said
    assert SHARED not in said


@pytest.mark.parametrize(
    "lines",
    [f"{SHARED}\n{SHARED}\n", f"a: {SHARED}\na: {SHARED}\n", f"{SHARED}\ndefault: {SHARED}\n"],
)
def test_a_token_given_twice_is_refused_whatever_tenants_it_names(tmp_path, lines):
    path = tmp_path / "tokens"
    path.write_text(lines)
    with pytest.raises(TokenFileError, match=r"tokens:1 and .*tokens:2 give the same token"):
        read_tokens(str(path))


def test_a_token_in_the_environment_and_the_file_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, f"{GOOD}, {SHARED}")
    path = tmp_path / "tokens"
    path.write_text(f"acme: {SHARED}\n")
    with pytest.raises(TokenFileError) as info:
        read_tokens(str(path))
    assert f"{TOKEN_ENV} (token 2) and {path}:1 give the same token" in str(info.value)


@pytest.mark.parametrize("short", ["x", "a" * (MIN_TOKEN_CHARS - 1)])
def test_short_tokens_are_refused_everywhere(tmp_path, monkeypatch, short):
    path = tmp_path / "tokens"
    path.write_text(f"{GOOD}\nacme: {short}\n")
    with pytest.raises(TokenFileError) as info:
        read_tokens(str(path))
    assert f"{path}:2: the token is {len(short)} character" in str(info.value)
    assert f"at least {MIN_TOKEN_CHARS}" in str(info.value)
    if len(short) > 1:
        assert short not in str(info.value)  # never the token
    monkeypatch.setenv(TOKEN_ENV, short)
    with pytest.raises(TokenFileError, match=rf"^{TOKEN_ENV} \(token 1\): the token is"):
        read_tokens(None)
    monkeypatch.delenv(TOKEN_ENV)
    monkeypatch.setenv(METRICS_TOKEN_ENV, f"{GOOD},{short}")
    with pytest.raises(TokenFileError, match=rf"^{METRICS_TOKEN_ENV} \(token 2\): the token"):
        read_metrics_tokens(None)
    monkeypatch.delenv(METRICS_TOKEN_ENV)
    path.write_text(f"{short}\n")
    with pytest.raises(TokenFileError, match=r"tokens:1: the token is"):
        read_metrics_tokens(str(path))


def test_tokens_of_16_characters_are_taken(tmp_path, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, GOOD)
    monkeypatch.setenv(METRICS_TOKEN_ENV, "m" * MIN_TOKEN_CHARS)
    path = tmp_path / "tokens"
    path.write_text(f"acme: {SHARED}\n")
    assert read_tokens(str(path)) == {GOOD.encode(): "default", SHARED.encode(): "acme"}
    assert read_metrics_tokens(None) == [b"m" * MIN_TOKEN_CHARS]


def test_serve_stops_with_a_usage_error_naming_the_lines(tmp_path, capsys):
    path = tmp_path / "tokens"
    path.write_text(f"a: {SHARED}\nb: {SHARED}\n")
    assert main(["serve", "--token-file", str(path), "--port", "0"]) == 2
    said = capsys.readouterr().err
    assert f"{path}:1 and {path}:2 give the same token" in said and SHARED not in said
    path.write_text("a: x\n")
    assert main(["serve", "--token-file", str(path), "--port", "0"]) == 2
    said = capsys.readouterr().err
    assert f"{path}:1: the token is 1 character long: at least 16" in said
