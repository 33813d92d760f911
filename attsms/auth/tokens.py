"""The token cache, and the token source that keeps it fresh.

One cache file per profile under the cache dir, 0600, written atomically. It is read without a
lock (a valid token is the common case and must be cheap) and refreshed under a cross-process file
lock, so ten cron jobs whose token expired together make one token call, not ten. The secret is
asked for only when a new token must be fetched: a valid cached token needs no keyring at all.

A token is reused until 30 s before it expires (`expires_in` 0: never), then renewed with the
refresh grant (the answer may rotate the refresh token), then with client credentials when the
refresh token is refused. The cache remembers the base URL and client id it was issued for, so a
token is never sent to another service or used for other credentials.

A cache that cannot be written (read-only or full disk, a file where the directory should be) is
not worth failing a command for: the `warn` callback hears about it once, and the process goes on
with a token of its own, at the cost of a token call per run.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attsms.core.errors import ApiError, AuthError, LockTimeoutError, StoreError
from attsms.core.fileutil import write_private_atomic
from attsms.core.models import Token, header_safe
from attsms.core.paths import cache_dir, ensure_private_dir
from attsms.core.redaction import remember_secret

if TYPE_CHECKING:
    from attsms.api.client import AttClient, RetryPolicy

# Reuse a token until this many seconds before it expires, as AT&T's own SDKs did.
EXPIRY_MARGIN = 30.0
# AttClient's own timeouts, for a TokenManager not told the ones its client was built with.
DEFAULT_TIMEOUT = 30.0
DEFAULT_CONNECT_TIMEOUT = 10.0
# Beyond the token calls, the lock holder reads the secret (the keyring answers within 5 s or is
# given up on) and writes the cache.
_LOCK_MARGIN = 30.0


def refresh_lock_timeout(retry: RetryPolicy, *, timeout: float, connect_timeout: float) -> float:
    """How long to wait for another process's token refresh: longer than it can legitimately take.

    The holder makes up to two token calls (a refresh the service refuses, then client
    credentials). Each makes `retry.attempts` attempts, and an attempt can take the connect
    timeout, then `timeout` to send and `timeout` to hear the answer (httpx times each phase).
    Between attempts it waits a Retry-After of up to `retry.max_retry_after` or a backoff of up to
    `retry.max_delay`. A waiter that gave up sooner would fail (exit 75) a run whose token was
    about to arrive; a dead holder frees the lock at once, so the long wait costs nothing then.
    """
    attempt = connect_timeout + 2 * timeout
    wait = max(retry.max_retry_after, retry.max_delay)
    one_call = retry.attempts * attempt + (retry.attempts - 1) * wait
    return 2 * one_call + _LOCK_MARGIN


class TokenCacheUnwritable(StoreError):
    """The cache dir cannot hold the refresh lock (read-only, full, not a directory)."""


@dataclass(frozen=True)
class CachedToken:
    token: Token
    base_url: str
    client_id: str
    obtained_at: float


class TokenCache:
    """`<cache dir>/tokens/<profile>.json`: the access token, refresh token and expiry."""

    def __init__(self, profile: str, directory: Path | None = None) -> None:
        self.profile = profile
        # The cache dir itself is made private too: it holds nothing anyone else should list.
        self._root = directory or cache_dir()
        self.path = (directory or self._root / "tokens") / f"{profile}.json"

    def load(self) -> CachedToken | None:
        """The cached token, or None when there is none or the file is unreadable."""
        try:
            raw: Any = json.loads(self.path.read_bytes())
            refresh = raw.get("refresh_token")
            expires_at = raw.get("expires_at")
            if not isinstance(refresh, str | None) or isinstance(expires_at, bool):
                raise TypeError("a field of the wrong type")
            if not header_safe(str(raw["access_token"])):
                raise ValueError("an access token that cannot be sent")
            token = Token(
                access_token=str(raw["access_token"]),
                refresh_token=refresh,
                expires_at=None if expires_at is None else float(expires_at),
                token_type=str(raw.get("token_type", "BEARER")),
            )
            remember_secret(token.access_token)
            remember_secret(token.refresh_token)
            return CachedToken(
                token=token,
                base_url=str(raw["base_url"]),
                client_id=str(raw["client_id"]),
                obtained_at=float(raw.get("obtained_at", 0)),
            )
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
            # A corrupt cache costs one token call, never a failed command.
            return None

    def save(self, cached: CachedToken) -> None:
        record = {
            "access_token": cached.token.access_token,
            "refresh_token": cached.token.refresh_token,
            "expires_at": cached.token.expires_at,
            "token_type": cached.token.token_type,
            "base_url": cached.base_url,
            "client_id": cached.client_id,
            "obtained_at": cached.obtained_at,
        }
        try:
            ensure_private_dir(self._root)
            write_private_atomic(self.path, json.dumps(record).encode())
        except OSError as error:
            raise StoreError(
                f"cannot write the token cache {self.path}: {error.strerror}"
            ) from None

    def clear(self) -> bool:
        """Delete the cache; True when there was one."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        except OSError as error:
            raise StoreError(
                f"cannot delete the token cache {self.path}: {error.strerror}"
            ) from None
        return True

    @contextlib.contextmanager
    def lock(self, timeout: float) -> Iterator[None]:
        """Hold the cross-process refresh lock for this profile (see `refresh_lock_timeout`)."""
        import filelock

        lock = filelock.FileLock(str(self.path.with_suffix(".lock")), timeout=timeout, mode=0o600)
        try:
            ensure_private_dir(self.path.parent)
            lock.acquire()
        except filelock.Timeout:
            raise LockTimeoutError(
                f"another attsms process has held the token lock for {timeout:g} s"
            ) from None
        except OSError as error:
            raise TokenCacheUnwritable(
                f"cannot write the token cache {self.path}: {error.strerror or error}"
            ) from None
        try:
            yield
        finally:
            lock.release()


class TokenManager:
    """A `TokenSource`: cached token while valid, else refresh grant, else client credentials."""

    def __init__(
        self,
        client: AttClient,
        cache: TokenCache,
        *,
        client_id: str,
        secret: Callable[[], str],
        scope: str = "SMS",
        clock: Callable[[], float] = time.time,
        warn: Callable[[str], None] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    ) -> None:
        """`timeout` and `connect_timeout` are those `client` was built with: the refresh lock
        is waited for longer than a token call with them and `client.retry` can take."""
        self._client = client
        self._lock_timeout = refresh_lock_timeout(
            client.retry, timeout=timeout, connect_timeout=connect_timeout
        )
        self._cache = cache
        self._client_id = client_id
        self._secret = secret
        self._scope = scope
        self._clock = clock
        self._current: CachedToken | None = None
        # Token calls made by this process (tests and `auth status` read it).
        self._warn = warn
        self._warned = False
        # Stands in for the cross-process lock among this process's threads when the cache dir
        # cannot hold that lock.
        self._uncached = threading.Lock()

    def access_token(self, *, stale: str | None = None) -> str:
        return self.current(stale=stale).token.access_token

    def current(self, *, stale: str | None = None) -> CachedToken:
        """A usable token: this process's, the cache's, or a new one (refresh, then client
        credentials). `stale` is a token the service just refused: never hand it out again."""
        current = self._current
        if current is not None and current.token.access_token != stale and self._usable(current):
            return current
        cached = self._load_usable(stale)
        if cached is None:
            try:
                with self._cache.lock(self._lock_timeout):
                    # Another process may have refreshed while we waited for the lock.
                    cached = self._load_usable(stale)
                    if cached is None:
                        cached = self._renew(stale)
            except TokenCacheUnwritable as error:
                # A cache is not worth failing a command (a cron job's send) for: go on with
                # a token of our own, and say what it costs.
                self._cache_failed(error)
                with self._uncached:
                    current = self._current
                    if current is not None and current.token.access_token != stale:
                        cached = current if self._usable(current) else None
                    cached = cached or self._renew(stale)
        self._current = cached
        return cached

    def cached(self) -> CachedToken | None:
        """The cached token for this client id and base URL, valid or not."""
        cached = self._cache.load()
        if cached and self._mine(cached):
            return cached
        return None

    def fetch_new(self) -> CachedToken:
        """A new token by client credentials, not cached yet (`login` validates with it)."""
        obtained_at = self._clock()
        token = self._client.fetch_token(self._client_id, self._secret(), self._scope)
        return self._wrap(token, obtained_at)

    def adopt(self, cached: CachedToken) -> None:
        """Make `cached` this profile's token, for this process and the next ones."""
        self._current = cached
        try:
            with self._cache.lock(self._lock_timeout):
                self._cache.save(cached)
        except StoreError as error:
            self._cache_failed(error)

    def _cache_failed(self, error: StoreError) -> None:
        if self._warn is not None and not self._warned:
            self._warned = True
            self._warn(f"{error.message}; going on without it (every run fetches a new token)")

    def _usable(self, cached: CachedToken) -> bool:
        return usable(cached, self._clock())

    def _mine(self, cached: CachedToken) -> bool:
        return cached.base_url == self._client.base_url and cached.client_id == self._client_id

    def _load_usable(self, stale: str | None) -> CachedToken | None:
        cached = self.cached()
        if cached is None or cached.token.access_token == stale:
            return None
        return cached if self._usable(cached) else None

    def _renew(self, stale: str | None) -> CachedToken:
        previous = self.cached()
        token: Token | None = None
        obtained_at = self._clock()
        refresh = previous.token.refresh_token if previous else None
        # Asked for once, outside the suppression below: no secret (no keyring) is the error.
        secret = self._secret()
        if refresh:
            with contextlib.suppress(AuthError, ApiError):
                # A refresh token can expire or be revoked; client credentials still work.
                token = self._client.refresh_token(self._client_id, secret, refresh)
        if token is None:
            token = self._client.fetch_token(self._client_id, secret, self._scope)
        cached = self._wrap(token, obtained_at)
        try:
            self._cache.save(cached)
        except StoreError as error:
            self._cache_failed(error)
        return cached

    def _wrap(self, token: Token, obtained_at: float) -> CachedToken:
        remember_secret(token.access_token)
        remember_secret(token.refresh_token)
        return CachedToken(
            token=token,
            base_url=self._client.base_url,
            client_id=self._client_id,
            obtained_at=obtained_at,
        )


def usable(cached: CachedToken, now: float) -> bool:
    """True while a cached token may still be sent: until `EXPIRY_MARGIN` s before it expires.

    A token that lives less than twice the margin (a test server's, or a short-lived grant) is
    used for the first half of its life instead, so that it is ever used at all.
    """
    expires_at = cached.token.expires_at
    if expires_at is None:
        return True  # expires_in 0: the service said it never expires
    lifetime = expires_at - cached.obtained_at
    margin = min(EXPIRY_MARGIN, max(lifetime, 0.0) / 2)
    return now + margin < expires_at
