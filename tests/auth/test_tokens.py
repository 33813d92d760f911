"""The token cache and TokenManager against the sandbox over HTTP, with a clock the test moves."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from attsms.api.client import AttClient
from attsms.auth.tokens import EXPIRY_MARGIN, CachedToken, TokenCache, TokenManager, usable
from attsms.core.models import Token
from tests.helpers.support import SandboxHttp

StartSandbox = Callable[..., SandboxHttp]


class Clock:
    """The client's idea of now; the sandbox keeps real time."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


class Secret:
    """Counts how often the secret was asked for (the keyring, in real life)."""

    def __init__(self, value: str) -> None:
        self.value = value
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        return self.value


@pytest.fixture
def clock() -> Clock:
    return Clock()


class Service:
    """A sandbox and a client of it."""

    def __init__(self, server: SandboxHttp) -> None:
        self.server = server
        self.client = AttClient(server.url)

    def manager(self, clock: Clock, cache: TokenCache | None = None) -> TokenManager:
        return TokenManager(
            self.client,
            cache or TokenCache("test"),
            client_id=self.server.config.client_id,
            secret=Secret(self.server.config.client_secret),
            clock=clock,
        )

    def operations(self) -> dict[str, int]:
        ops: dict[str, int] = self.server.stats()["operations"]
        return ops


@pytest.fixture
def service(sandbox_http: StartSandbox) -> Iterator[Service]:
    started = Service(sandbox_http(token_lifetime=3600))
    yield started
    started.client.close()


def test_a_token_is_reused_until_30_s_before_expiry_then_refreshed(
    service: Service, clock: Clock
) -> None:
    tokens = service.manager(clock)
    first = tokens.access_token()
    expires_at = tokens.current().token.expires_at
    assert expires_at is not None
    clock.now = expires_at - EXPIRY_MARGIN - 1
    assert service.manager(clock).access_token() == first  # a new process: from the cache
    clock.now = expires_at - EXPIRY_MARGIN + 1
    second = service.manager(clock).access_token()
    assert second != first
    assert (service.operations()["token"], service.operations()["refresh"]) == (1, 1)


def test_the_secret_is_asked_for_only_when_a_token_must_be_fetched(
    service: Service, clock: Clock
) -> None:
    first = service.manager(clock)
    first.access_token()
    later = service.manager(clock)
    later.access_token()
    later.access_token()
    assert isinstance(later._secret, Secret) and isinstance(first._secret, Secret)
    assert (first._secret.calls, later._secret.calls) == (1, 0)


def test_expires_in_zero_never_expires(sandbox_http: StartSandbox, clock: Clock) -> None:
    service = Service(sandbox_http(token_lifetime=0))
    token = service.manager(clock).access_token()
    cached = TokenCache("test").load()
    assert cached is not None and cached.token.expires_at is None
    clock.now += 10 * 365 * 86400
    assert service.manager(clock).access_token() == token
    assert service.operations()["token"] == 1
    service.client.close()


def test_a_stale_token_refused_by_the_service_is_never_handed_out_again(
    service: Service, clock: Clock
) -> None:
    tokens = service.manager(clock)
    first = tokens.access_token()
    second = tokens.access_token(stale=first)
    assert second != first
    assert service.manager(clock).access_token(stale=first) == second  # the cache has it
    assert service.operations()["refresh"] == 1


def test_a_corrupt_or_foreign_cache_costs_one_token_call(service: Service, clock: Clock) -> None:
    cache = TokenCache("test")
    cache.path.parent.mkdir(parents=True)
    cache.path.write_text('{"access_token": "x", "expires_at": "soon"')
    service.manager(clock, cache).access_token()
    record = json.loads(cache.path.read_text())
    # A token issued for another service or another client id is not sent here.
    record["base_url"] = "https://elsewhere.example"
    cache.path.write_text(json.dumps(record))
    assert service.manager(clock, cache).access_token() != record["access_token"]
    assert service.operations()["token"] == 2
    assert cache.path.stat().st_mode & 0o777 == 0o600
    assert cache.path.parent.stat().st_mode & 0o777 == 0o700


def test_login_fetches_without_caching_then_adopts(service: Service, clock: Clock) -> None:
    tokens = service.manager(clock)
    fresh = tokens.fetch_new()
    assert TokenCache("test").load() is None  # nothing saved before the caller says so
    tokens.adopt(fresh)
    assert TokenCache("test").load() == fresh
    assert service.manager(clock).access_token() == fresh.token.access_token


def _cached(lifetime: float | None, obtained_at: float = 1000.0) -> CachedToken:
    expires_at = None if lifetime is None else obtained_at + lifetime
    return CachedToken(Token("a", "r", expires_at), "https://x", "id", obtained_at)


@given(
    lifetime=st.integers(1, 10 * 172_800),
    elapsed=st.integers(0, 20 * 172_800),
    later=st.integers(0, 172_800),
)
def test_a_token_is_used_from_the_start_never_past_expiry_and_never_again_once_dropped(
    lifetime: int, elapsed: int, later: int
) -> None:
    token = _cached(lifetime)
    assert usable(token, 1000.0)  # a new token is always used at least once
    if usable(token, 1000.0 + elapsed):
        assert elapsed < lifetime  # never sent once expired
    else:
        assert not usable(token, 1000.0 + elapsed + later)  # dropped for good
    if lifetime >= 60:  # long-lived tokens: used until 30 s before expiry, not in the last 30 s
        assert usable(token, 1000.0 + lifetime - 31)
        assert not usable(token, 1000.0 + lifetime - 30)


def test_usable_examples() -> None:
    assert usable(_cached(172_800), 1000.0 + 172_800 - 31)
    assert not usable(_cached(172_800), 1000.0 + 172_800 - 29)
    assert usable(_cached(10), 1004.9) and not usable(_cached(10), 1005.1)
    assert usable(_cached(None), 1e12)


def test_cache_round_trips_and_is_written_atomically_0600(tmp_path: Path) -> None:
    cache = TokenCache("p", directory=tmp_path / "tokens")
    token = CachedToken(Token("access", None, None, "BEARER"), "https://x", "id", 5.0)
    cache.save(token)
    assert cache.load() == token
    assert cache.path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in cache.path.parent.iterdir()] == ["p.json"]  # no temp file left
    assert cache.clear() is True
    assert cache.clear() is False
    assert cache.load() is None


# --- the refresh lock outlasts what is done under it ------------------------------------------


def _worst_token_call(attempts: int, timeout: float) -> float:
    """One token call at its slowest, as a user reckons it: every attempt waits the whole
    ATTSMS_TIMEOUT, and between attempts the longest Retry-After the client still waits out."""
    from attsms.api.client import RetryPolicy

    return attempts * timeout + (attempts - 1) * RetryPolicy().max_retry_after


@pytest.mark.parametrize(
    ("env", "attempts", "timeout"),
    [
        ({}, 4, 30.0),  # the defaults
        ({"ATTSMS_TIMEOUT": "30"}, 4, 30.0),
        ({"ATTSMS_TIMEOUT": "120", "ATTSMS_MAX_RETRIES": "10"}, 11, 120.0),
        ({"ATTSMS_TIMEOUT": "2", "ATTSMS_MAX_RETRIES": "0"}, 1, 2.0),
    ],
)
def test_the_refresh_lock_waits_longer_than_a_holder_may_take(
    sandbox_http: StartSandbox,
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    attempts: int,
    timeout: float,
) -> None:
    from attsms.auth.profiles import ActiveProfile
    from attsms.auth.session import Session

    server = sandbox_http()
    for name, value in {**server.env(), **env}.items():
        monkeypatch.setenv(name, value)
    waited: list[float] = []
    real_lock = TokenCache.lock

    def spy(self: TokenCache, timeout: float = 60.0) -> object:
        waited.append(timeout)
        return real_lock(self, timeout)

    monkeypatch.setattr(TokenCache, "lock", spy)
    session = Session.open(ActiveProfile.resolve(sandbox=False, profile=None))
    try:
        session.tokens.current()
    finally:
        session.close()
    # The holder may make two token calls (a refused refresh, then client credentials).
    assert waited and min(waited) > 2 * _worst_token_call(attempts, timeout)


@given(
    attempts=st.integers(1, 11),
    timeout=st.floats(0.001, 3600),
    connect=st.floats(0.001, 60),
    base=st.floats(0, 10),
    cap=st.floats(0, 120),
    retry_after=st.floats(0, 600),
)
def test_refresh_lock_timeout_exceeds_two_worst_token_calls(
    attempts: int, timeout: float, connect: float, base: float, cap: float, retry_after: float
) -> None:
    from attsms.api.client import RetryPolicy
    from attsms.auth.tokens import refresh_lock_timeout

    retry = RetryPolicy(
        attempts=attempts, base_delay=base, max_delay=cap, max_retry_after=retry_after
    )
    one_call = attempts * (connect + timeout) + (attempts - 1) * max(cap, retry_after)
    assert refresh_lock_timeout(retry, timeout=timeout, connect_timeout=connect) > 2 * one_call
