"""Where a profile's client secret lives: the environment, the OS keyring, or a file asked for.

The policy (docs/keyring.md has what was measured):
- `ATTSMS_CLIENT_SECRET` wins, for one run (CI).
- Otherwise the OS keyring, service "attsms", user name = the profile. The `fail` and `null`
  backends and any backend of priority below 1 (keyrings.alt's plaintext files) count as no
  keyring; a secret is read back after it is written; every keyring call runs under a timeout in a
  daemon thread, because a D-Bus that never answers would otherwise hang a cron job for good.
- A 0600 file in a 0700 directory only when the profile says `store = "file"` (`login --store
  file`). Never a silent fallback: no keyring is an error naming the fixes, and a locked keyring is
  an error, not a reason to write plaintext.

`keyring` is imported only inside these calls: a command whose cached token is valid never loads it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from attsms.auth.config import SecretStoreKind
from attsms.core.errors import AuthError, StoreError
from attsms.core.fileutil import write_private_atomic
from attsms.core.paths import config_dir, ensure_private_dir
from attsms.core.redaction import SECRET_ENV, remember_secret

if TYPE_CHECKING:
    from keyring.backend import KeyringBackend

T = TypeVar("T")

SERVICE = "attsms"
# Keyring calls that take longer are abandoned: a healthy Secret Service answers in ~200 ms.
KEYRING_TIMEOUT = 5.0

SourceKind = Literal["env", "keyring", "file"]

NO_KEYRING_HINT = (
    "on a server or in cron, run `attsms login --store file` (a 0600 file) or set"
    " ATTSMS_CLIENT_ID and ATTSMS_CLIENT_SECRET"
)


class KeyringUnavailable(AuthError):
    """There is no usable OS keyring here (no D-Bus session, no Secret Service, a hang, ...)."""


@dataclass(frozen=True)
class SecretLocation:
    """Where a secret came from or went: `kind` and a detail (variable, backend name, path)."""

    kind: SourceKind
    detail: str

    def describe(self) -> str:
        if self.kind == "env":
            return f"environment ({self.detail})"
        if self.kind == "keyring":
            return f"keyring ({self.detail})"
        return f"file {self.detail}"


def secret_file(profile: str) -> Path:
    """The file store's path for `profile` (or a store's key): `<config dir>/secrets/<key>`."""
    return config_dir() / "secrets" / profile


LISTEN_TOKEN_ENV = "ATTSMS_LISTEN_TOKEN"


def listen_token_store(profile: str, kind: SecretStoreKind = "keyring") -> CredentialStore:
    """Where `attsms listen` keeps `profile`'s callback token: a secret like the client secret
    (anyone who has it can forge receipts and STOPs), so the same policy, never config.toml:
    ATTSMS_LISTEN_TOKEN, else the keyring entry `<profile>:listen-token`, else, when the
    profile says `store = "file"`, the 0600 file `secrets/<profile>.listen-token`."""
    key = f"{profile}:listen-token" if kind == "keyring" else f"{profile}.listen-token"
    return CredentialStore(profile, kind, key=key, env=LISTEN_TOKEN_ENV)


class CredentialStore:
    """One profile's secret: environment first, then the profile's store (keyring or file).

    `key` names the entry (keyring user name and file name; default the profile) and `env` the
    variable that wins over it: the listen token is a second secret kept the same way.
    """

    def __init__(
        self,
        profile: str,
        kind: SecretStoreKind = "keyring",
        *,
        timeout: float = KEYRING_TIMEOUT,
        key: str | None = None,
        env: str = SECRET_ENV,
    ) -> None:
        self.profile = profile
        self.key = key or profile
        self.env = env
        self.kind: SecretStoreKind = kind
        self.timeout = timeout

    # reading -------------------------------------------------------------------------------

    def lookup(self, *, use_env: bool = True) -> tuple[str, SecretLocation] | None:
        """The secret and where it came from, or None when the store holds none."""
        if use_env:
            value = os.environ.get(self.env)
            if value:
                remember_secret(value)  # attsms.core.redaction reads ATTSMS_CLIENT_SECRET itself
                return value, SecretLocation("env", self.env)
        if self.kind == "file":
            secret = self._read_file()
            return None if secret is None else (secret, self.location())

        def read(backend: KeyringBackend) -> tuple[str | None, str]:
            return backend.get_password(SERVICE, self.key), _display_name(backend)

        secret, backend_name = self._keyring("reading the secret", read)
        remember_secret(secret)
        return None if secret is None else (secret, SecretLocation("keyring", backend_name))

    def get(self) -> str | None:
        """The secret in the profile's store (not the environment), or None."""
        if self.kind == "file":
            return self._read_file()
        secret = self._keyring(
            "reading the secret", lambda backend: backend.get_password(SERVICE, self.key)
        )
        remember_secret(secret)
        return secret

    def location(self) -> SecretLocation:
        """Where this store keeps the secret. For the keyring this checks there is a usable one."""
        if self.kind == "file":
            return SecretLocation("file", str(secret_file(self.key)))
        return SecretLocation("keyring", self.backend_name())

    def backend_name(self) -> str:
        """The usable keyring backend's name; KeyringUnavailable when there is none."""
        return self._keyring("opening the keyring", _display_name)

    def check(self) -> None:
        """Fail now if the store cannot be used: no usable keyring, a locked one, a hang.

        It reads the profile's entry, which is what makes a locked keyring say so.
        """
        if self.kind == "keyring":
            self._keyring(
                "opening the keyring", lambda backend: backend.get_password(SERVICE, self.key)
            )

    # writing -------------------------------------------------------------------------------

    def save(self, secret: str) -> SecretLocation:
        """Store `secret` and read it back; the location it went to."""
        if not secret:
            raise ValueError("an empty secret")
        remember_secret(secret)
        if self.kind == "file":
            self._write_file(secret)
            if self._read_file() != secret:
                raise StoreError(f"{secret_file(self.key)} did not keep the secret")
            return self.location()

        def store(backend: KeyringBackend) -> str:
            backend.set_password(SERVICE, self.key, secret)
            if backend.get_password(SERVICE, self.key) != secret:
                raise KeyringUnavailable(
                    f"the keyring ({_display_name(backend)}) did not keep the secret",
                    hint=NO_KEYRING_HINT,
                )
            return _display_name(backend)

        return SecretLocation("keyring", self._keyring("saving the secret", store))

    def delete(self) -> bool:
        """Remove the secret from the store; True when there was one."""
        if self.kind == "file":
            try:
                secret_file(self.key).unlink()
            except FileNotFoundError:
                return False
            except OSError as error:
                raise StoreError(
                    f"cannot delete {secret_file(self.key)}: {error.strerror}"
                ) from None
            return True

        def remove(backend: KeyringBackend) -> bool:
            from keyring.errors import PasswordDeleteError

            if backend.get_password(SERVICE, self.key) is None:
                return False
            try:
                backend.delete_password(SERVICE, self.key)
            except PasswordDeleteError:
                return False
            return True

        return self._keyring("deleting the secret", remove)

    # the file store ------------------------------------------------------------------------

    def _read_file(self) -> str | None:
        path = secret_file(self.key)
        try:
            mode = path.stat().st_mode
            if mode & 0o077:
                # As ssh does with a private key: a secret others can read is a leak to fix.
                raise AuthError(
                    f"{path} is readable by other users",
                    hint=f"run `chmod 600 {path}`, or `attsms login` again",
                )
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as error:
            reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
            raise StoreError(f"cannot read {path}: {reason}") from None
        secret = text.removesuffix("\n")
        remember_secret(secret)
        return secret or None

    def _write_file(self, secret: str) -> None:
        path = secret_file(self.key)
        try:
            ensure_private_dir(config_dir())
            write_private_atomic(path, (secret + "\n").encode())
        except OSError as error:
            raise StoreError(f"cannot write {path}: {error.strerror}") from None

    # the keyring ---------------------------------------------------------------------------

    def _keyring(self, what: str, operation: Callable[[KeyringBackend], T]) -> T:
        """`operation(backend)` on a usable backend, in a daemon thread, within the timeout."""
        outcome: dict[str, Any] = {}

        def run() -> None:
            try:
                outcome["value"] = operation(_usable_backend())
            except BaseException as error:  # handed to the caller's thread below
                outcome["error"] = error

        worker = threading.Thread(target=run, name="attsms-keyring", daemon=True)
        worker.start()
        worker.join(self.timeout)
        if worker.is_alive():
            # The daemon thread is abandoned; it cannot keep the process alive at exit.
            raise KeyringUnavailable(
                f"the OS keyring did not answer within {self.timeout:g} s while {what}",
                hint=NO_KEYRING_HINT,
            )
        error = outcome.get("error")
        if error is not None:
            raise _translate(error, what) from None
        value: T = outcome["value"]
        return value


def _usable_backend() -> KeyringBackend:
    """The keyring backend to use, or KeyringUnavailable when it cannot keep a secret safely."""
    try:
        import keyring
        import keyring.core
        from keyring.backends import chainer, fail, null
    except ImportError:
        raise KeyringUnavailable(
            "the keyring package is not installed", hint=NO_KEYRING_HINT
        ) from None
    # PYTHON_KEYRING_BACKEND is read on every call (not only at keyring's first use), so the
    # variable keyring documents works the same for a long-lived process and a test.
    backend = keyring.core.load_env() or keyring.get_keyring()
    if isinstance(backend, fail.Keyring):
        raise KeyringUnavailable(
            f"no OS keyring is available ({_why_none()})", hint=NO_KEYRING_HINT
        )
    if isinstance(backend, null.Keyring):
        raise KeyringUnavailable(
            "the keyring is disabled (keyring's null backend)", hint=NO_KEYRING_HINT
        )
    chosen = backend
    if isinstance(backend, chainer.ChainerBackend):
        chained = list(backend.backends)
        if not chained:
            raise KeyringUnavailable(
                f"no OS keyring is available ({_why_none()})", hint=NO_KEYRING_HINT
            )
        chosen = chained[0]  # the chainer writes to its first backend
    priority = float(type(chosen).priority)
    if priority < 1:
        # keyrings.alt's plaintext or weakly encrypted files: not what a user means by keyring.
        raise KeyringUnavailable(
            f"the only keyring here is {chosen.name}, which is not a secure store"
            f" (priority {priority:g})",
            hint=NO_KEYRING_HINT,
        )
    return backend


def _display_name(backend: KeyringBackend) -> str:
    from keyring.backends import chainer

    if isinstance(backend, chainer.ChainerBackend):
        return " + ".join(str(b.name) for b in backend.backends)
    return str(backend.name)


def _why_none() -> str:
    if os.name == "posix" and not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        return "no D-Bus session: DBUS_SESSION_BUS_ADDRESS is not set"
    return "no Secret Service or other keyring answered"


def _translate(error: BaseException, what: str) -> BaseException:
    """An AttsmsError for what keyring raised; anything else is returned unchanged."""
    if isinstance(error, AuthError | StoreError):
        return error
    try:
        from keyring import errors as keyring_errors
    except ImportError:  # pragma: no cover - keyring is a dependency
        return error
    detail = " ".join(str(error).split()) or type(error).__name__
    if isinstance(error, keyring_errors.KeyringLocked):
        return AuthError(
            f"the OS keyring is locked ({detail})",
            hint="unlock it (log in to the desktop session) and try again; attsms never falls"
            " back to a plaintext file on its own",
        )
    if isinstance(error, keyring_errors.NoKeyringError):
        return KeyringUnavailable(f"no OS keyring is available ({detail})", hint=NO_KEYRING_HINT)
    if isinstance(error, keyring_errors.InitError):
        return KeyringUnavailable(
            f"the OS keyring could not be opened ({detail})",
            hint="unlock or create it in the desktop session; " + NO_KEYRING_HINT,
        )
    if isinstance(error, keyring_errors.KeyringError | RuntimeError):
        # A backend whose priority check raised (RuntimeError) is not viable here.
        return KeyringUnavailable(f"the OS keyring failed {what} ({detail})", hint=NO_KEYRING_HINT)
    return error
