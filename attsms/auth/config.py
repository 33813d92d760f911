"""`config.toml`: settings per profile (client id, base URL, registration ID, region, secret store).

Secrets never go in this file: the client secret lives in the OS keyring (or, when the user asked,
a 0600 file of its own); tokens live in the cache dir. The file is read with `tomllib` and written
by the small writer below (flat tables of strings are all attsms writes), atomically and 0600.

    [profiles.default]
    client_id = "abc123"
    base_url = "https://api.att.com"
    registration_id = "12345"
    store = "keyring"

Top-level tables other than `profiles` are kept as they are when attsms rewrites the file.
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from attsms.core.errors import ConfigError, StoreError, UsageError
from attsms.core.fileutil import check_writable_dir, write_private_atomic
from attsms.core.paths import config_dir

CONFIG_NAME = "config.toml"
DEFAULT_PROFILE = "default"
DEFAULT_BASE_URL = "https://api.att.com"
DEFAULT_SCOPE = "SMS"
DEFAULT_REGION = "US"

SecretStoreKind = Literal["keyring", "file"]
STORE_KINDS: tuple[SecretStoreKind, ...] = ("keyring", "file")

# A profile name is a file name (the token cache) and a keyring user name: keep it plain.
# \Z, not $: `$` also matches before a final newline, which let "work\n" through.
_PROFILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+\Z")


def config_path() -> Path:
    return config_dir() / CONFIG_NAME


def check_profile_name(name: str) -> str:
    """`name` when it can name a profile, else UsageError."""
    if not _PROFILE_NAME.match(name):
        raise UsageError(
            f"invalid profile name {name!r}",
            hint="use letters, digits, '.', '_' and '-' (at most 64, starting with a letter or"
            " digit)",
        )
    return name


def is_loopback(host: str) -> bool:
    """`host` (a URL's host, brackets and trailing dot allowed) is this machine: 127.0.0.0/8,
    ::1 or `localhost`. Names are not resolved: only what cannot leave the host counts."""
    import ipaddress

    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def refuse_clear_text(url: str, *, insecure_http: bool) -> None:
    """A usage error (exit 2) when `url` (checked) is plain http:// to a host that is not
    loopback: the client secret would cross the network in clear. `--insecure-http` allows it."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if insecure_http or parts.scheme != "http" or is_loopback(parts.hostname or ""):
        return
    raise UsageError(
        f"refusing to send the client secret in clear to {parts.hostname} over plain http://",
        hint="use an https:// base URL, or pass --insecure-http if the network is trusted",
    )


def check_base_url(url: str) -> str:
    """`url` without a trailing slash when it is an http(s) URL, else UsageError."""
    from urllib.parse import urlsplit

    text = url.strip()
    try:
        parts = urlsplit(text)
        # .port raises ValueError for a port that is not a number; encode() for undecodable bytes.
        valid = (parts.port is None or parts.port > 0) and bool(text.encode("utf-8"))
    except ValueError:  # "http://[::1" and friends
        valid = False
    if valid and (parts.username is not None or parts.password is not None):
        raise UsageError(  # not echoed: it holds a password
            "the base URL holds a user name or password",
            hint="give the address alone, e.g. https://api.att.com, and log in with `attsms login`",
        )
    if (
        not valid
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.query
        or parts.fragment
        or not text.isprintable()
        or any(ch.isspace() for ch in text)
    ):
        raise UsageError(
            f"invalid base URL {url!r}",
            hint="give an http:// or https:// URL, e.g. https://api.att.com",
        )
    return text.rstrip("/")


@dataclass(frozen=True)
class Profile:
    """One profile's settings. None means "not set": the defaults apply."""

    name: str
    client_id: str | None = None
    base_url: str | None = None
    registration_id: str | None = None
    region: str | None = None
    scope: str | None = None
    store: SecretStoreKind | None = None
    database_url: str | None = None  # a shared PostgreSQL store (never with its password)
    history_keep_days: str | None = None  # prune the history to this many days
    history_keep_batches: str | None = None  # ... or to this many newest send requests
    quiet_hours: str | None = None  # `send` holds back recipients inside it (HH:MM-HH:MM)

    @property
    def store_kind(self) -> SecretStoreKind:
        return self.store or "keyring"


# The keys a profile table may hold, and the attribute each maps to (all strings).
_PROFILE_KEYS = (
    "client_id",
    "base_url",
    "registration_id",
    "region",
    "scope",
    "store",
    "database_url",
    "history_keep_days",
    "history_keep_batches",
    "quiet_hours",
)
# Of those, the ones a number is natural for (`history_keep_days = 30`); kept as text.
_NUMBER_KEYS = ("history_keep_days", "history_keep_batches")


@dataclass
class Config:
    path: Path
    profiles: dict[str, Profile] = field(default_factory=dict)
    # Other top-level tables and keys, written back untouched.
    other: dict[str, Any] = field(default_factory=dict)

    def profile(self, name: str) -> Profile | None:
        return self.profiles.get(name)

    def with_profile(self, profile: Profile) -> Config:
        profiles = {**self.profiles, profile.name: profile}
        return Config(self.path, profiles, dict(self.other))

    def save(self) -> None:
        """Write the file atomically, mode 0600, in a 0700 directory."""
        document: dict[str, Any] = dict(self.other)
        document["profiles"] = {
            name: {
                key: value for key in _PROFILE_KEYS if (value := getattr(profile, key)) is not None
            }
            for name, profile in sorted(self.profiles.items())
        }
        header = (
            "# attsms settings. The client secret is not kept here: see `attsms auth status`.\n"
        )
        try:
            write_private_atomic(self.path, (header + dumps(document)).encode())
        except OSError as error:
            raise _unwritable(self.path, error) from None

    def check_writable(self) -> None:
        """StoreError now if the settings (and the file store's secrets) cannot be written."""
        try:
            check_writable_dir(self.path.parent)
        except OSError as error:
            raise _unwritable(self.path, error) from None


def _unwritable(path: Path, error: OSError) -> StoreError:
    # Not a ConfigError (exit 2): the file is fine, the disk or directory is not.
    return StoreError(
        f"cannot write {path}: {error.strerror or error}",
        hint="check that the config directory is writable, or set ATTSMS_CONFIG_DIR",
    )


def load_config(path: Path | None = None) -> Config:
    """The settings file, or an empty Config when there is none. ConfigError names what is wrong."""
    path = path or config_path()
    try:
        text = path.read_bytes().decode("utf-8-sig")  # Notepad starts a file with a BOM
    except FileNotFoundError:
        return Config(path)
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text", hint="fix or delete it") from None
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror}") from None
    import tomllib

    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML ({error})", hint="fix or delete it") from None
    except RecursionError:  # tomllib recurses into nested arrays and tables
        raise ConfigError(f"{path} is nested too deeply", hint="fix or delete it") from None
    return _parse(path, document)


def _parse(path: Path, document: dict[str, Any]) -> Config:
    other = {k: v for k, v in document.items() if k != "profiles"}
    raw_profiles = document.get("profiles", {})
    if not isinstance(raw_profiles, dict):
        raise _wrong(path, "profiles", "a table of profiles ([profiles.NAME])")
    profiles = {name: _profile(path, name, table) for name, table in raw_profiles.items()}
    return Config(path, profiles, other)


def _profile(path: Path, name: str, table: Any) -> Profile:
    """One `[profiles.NAME]` table, each setting checked as the code that uses it checks it."""
    key = f"profiles.{name}"
    if not _PROFILE_NAME.match(name):
        raise _wrong(path, key, "a profile name of letters, digits, '.', '_' and '-'")
    if not isinstance(table, dict):
        raise _wrong(path, key, "a table")
    values = {setting: _setting(path, key, setting, value) for setting, value in table.items()}
    store = values.get("store")
    if store is not None and store not in STORE_KINDS:
        raise _wrong(path, f"{key}.store", '"keyring" or "file"')
    base_url = values.get("base_url")
    if base_url is not None:
        try:
            values["base_url"] = check_base_url(base_url)
        except UsageError:
            raise _wrong(path, f"{key}.base_url", "an http:// or https:// URL") from None
    return Profile(name=name, **values)  # type: ignore[arg-type]


def _setting(path: Path, key: str, setting: str, value: Any) -> str:
    """One setting's value as text (all are strings; a number is natural for some)."""
    if setting not in _PROFILE_KEYS:
        raise ConfigError(
            f"unknown setting {key}.{setting} in {path}",
            hint=f"known settings: {', '.join(_PROFILE_KEYS)}",
        )
    if setting in _NUMBER_KEYS and isinstance(value, int | float):
        if isinstance(value, bool) or not value >= 0:
            raise _wrong(path, f"{key}.{setting}", "a number of 0 or more")
        value = str(value)
    if not isinstance(value, str):
        raise _wrong(path, f"{key}.{setting}", "a string")
    whole = setting == "history_keep_batches"
    if setting in _NUMBER_KEYS and check_count(value, whole=whole) is None:
        raise _wrong(path, f"{key}.{setting}", f"a {'whole ' if whole else ''}number of 0 or more")
    return value


def check_count(text: str, *, whole: bool = False) -> float | None:
    """`text` as a retention count (history_keep_days, history_keep_batches, and the variables
    ATTSMS_HISTORY_KEEP_DAYS and ATTSMS_HISTORY_KEEP_BATCHES): a finite number of 0 or more,
    whole when `whole`; None when it is not one. The one rule config.toml, the environment
    and `config set` apply."""
    try:
        number = float(text)
    except ValueError:
        return None
    if not 0 <= number < float("inf") or (whole and not number.is_integer()):
        return None
    return number


def _wrong(path: Path, key: str, expected: str) -> ConfigError:
    return ConfigError(f"{key} in {path} must be {expected}", hint="fix or delete it")


# --- a small TOML writer ------------------------------------------------------------------------


def dumps(document: Mapping[str, Any]) -> str:
    """TOML for a document of tables, strings, numbers, booleans and lists of those.

    Enough for what attsms writes (and round-trips what `tomllib` read from a hand-written file of
    the same shapes); not a general writer.
    """
    lines: list[str] = []
    _write_table(lines, (), document)
    return "\n".join(lines).lstrip("\n") + "\n"


def _write_table(lines: list[str], prefix: tuple[str, ...], table: Mapping[str, Any]) -> None:
    scalars = {k: v for k, v in table.items() if not _is_table(v)}
    tables = {k: v for k, v in table.items() if _is_table(v)}
    if prefix and (scalars or not tables):
        lines.append("")
        lines.append(f"[{'.'.join(_key(p) for p in prefix)}]")
    for key, value in scalars.items():
        lines.append(f"{_key(key)} = {_value(value)}")
    for key, value in tables.items():
        _write_table(lines, (*prefix, key), value)


def _is_table(value: Any) -> bool:
    return isinstance(value, Mapping)


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else _string(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, datetime.date | datetime.time):  # datetime is a date subclass
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write a {type(value).__name__} to TOML")


_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


def _string(text: str) -> str:
    out = []
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'
