"""The settings a profile keeps in config.toml: each key, the variable that overrides it for one
run, its default, and the one check of its value.

Each check is the code that checks the value where it is used, not a copy: the base URL
(`config.check_base_url`, as `login` and every request), the region (`core.numbers.check_region`,
as numbers are read), quiet hours (`core.quiet_window.parse_quiet_hours`, as `send`), the
database URL (`store.postgres.refuse_password` and `check_url`, as the store's opener), the
retention (`config.check_count`, as config.toml, ATTSMS_HISTORY_KEEP_DAYS and
ATTSMS_HISTORY_KEEP_BATCHES are read). So a value `attsms config set` accepts is one the command
using it accepts, and `attsms doctor` finds a hand-edited value the command would refuse.

Secrets are never settings: the client secret and the listen token live in the keyring (or the
file store); `config set client_secret` names `login`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from attsms.auth.config import (
    DEFAULT_BASE_URL,
    DEFAULT_REGION,
    DEFAULT_SCOPE,
    Profile,
    check_base_url,
    check_count,
    load_config,
)
from attsms.core.errors import UsageError
from attsms.store import ENV_DATABASE_URL

ENV_CLIENT_ID = "ATTSMS_CLIENT_ID"
ENV_REGION = "ATTSMS_REGION"
ENV_BASE_URL = "ATTSMS_BASE_URL"
ENV_REGISTRATION_ID = "ATTSMS_REGISTRATION_ID"
ENV_KEEP_DAYS = "ATTSMS_HISTORY_KEEP_DAYS"
ENV_KEEP_BATCHES = "ATTSMS_HISTORY_KEEP_BATCHES"

# Names people try for a secret: refused with the way secrets are kept.
SECRET_NAMES = frozenset(
    {"client_secret", "secret", "password", "listen_token", "token", "access_token"}
)


@dataclass(frozen=True)
class Key:
    """One setting of a profile."""

    name: str
    takes: str  # what a value may be, for help and errors
    env: str | None = None  # the variable that wins over it for one run
    default: str | None = None
    check: Callable[[str], str] | None = None  # the value as saved; UsageError when wrong
    set_by: str | None = None  # not set with `config set`: the command that sets it


def _word(what: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        text = value.strip()
        if not text or not text.isprintable() or any(ch.isspace() for ch in text):
            raise UsageError(f"{what} must be one word, not {value!r}")
        return text

    return check


def _region(value: str) -> str:
    from attsms.core.numbers import check_region

    return check_region(value.strip())


def _quiet_hours(value: str) -> str:
    from attsms.core.quiet_window import parse_quiet_hours

    return str(parse_quiet_hours(value, source="quiet_hours"))


def _database_url(value: str) -> str:
    from attsms.store.postgres import check_url, refuse_password

    text = value.strip()
    refuse_password(text, "the command line")
    check_url(text)
    return text


def _count(key: str, *, whole: bool) -> Callable[[str], str]:
    def check(value: str) -> str:
        text = value.strip()
        if check_count(text, whole=whole) is None:
            raise UsageError(f"{key} must be {_count_takes(whole)}, not {value!r}")
        return text

    return check


def _count_takes(whole: bool) -> str:
    return "a whole number of 0 or more" if whole else "a number of 0 or more"


KEYS: Mapping[str, Key] = {
    key.name: key
    for key in (
        Key("client_id", "the app key", ENV_CLIENT_ID, set_by="attsms login --client-id ID"),
        Key("base_url", "an http:// or https:// URL", ENV_BASE_URL, DEFAULT_BASE_URL,
            check_base_url),
        Key("registration_id", "the short code inbox pull reads", ENV_REGISTRATION_ID,
            check=_word("registration_id")),
        Key("region", "a two-letter region such as US", ENV_REGION, DEFAULT_REGION, _region),
        Key("scope", "the OAuth scope", None, DEFAULT_SCOPE, _word("scope")),
        Key("store", '"keyring" or "file"', None, "keyring",
            set_by="attsms login --store keyring|file"),
        Key("database_url", "postgresql://USER@HOST:PORT/DATABASE, without a password",
            ENV_DATABASE_URL, check=_database_url),
        Key("history_keep_days", _count_takes(False) + " (days)", ENV_KEEP_DAYS,
            check=_count("history_keep_days", whole=False)),
        Key("history_keep_batches", _count_takes(True) + " (send requests)", ENV_KEEP_BATCHES,
            check=_count("history_keep_batches", whole=True)),
        Key("quiet_hours", "START-END in 24-hour local time, e.g. 21:00-08:00",
            check=_quiet_hours),
    )
}  # fmt: skip


def key_named(name: str) -> Key:
    """The setting `name`; UsageError naming the known ones (or, for a secret, `login`)."""
    if name in KEYS:
        return KEYS[name]
    if name.lower() in SECRET_NAMES or "secret" in name.lower():
        raise UsageError(
            f"{name} is a secret, and secrets are never kept in config.toml",
            hint="run `attsms login` (the secret goes to the OS keyring, or with --store file a"
            " 0600 file)",
        )
    raise UsageError(f"unknown setting {name!r}", hint=f"known settings: {', '.join(KEYS)}")


def check_value(key: Key, value: str) -> str:
    """`value` as it would be saved for `key`, checked as the code using it checks it; a
    UsageError naming the key and what it takes."""
    if key.set_by is not None:
        raise UsageError(f"{key.name} is set by `{key.set_by}`", hint="it moves the secret too")
    assert key.check is not None
    try:
        return key.check(value)
    except UsageError as error:  # the message the command using it gives, naming the key
        message = error.message if key.name in error.message else f"{key.name}: {error.message}"
        raise UsageError(message, hint=error.hint or f"{key.name} takes {key.takes}") from None


def saved_problems(profile: Profile) -> list[str]:
    """What is wrong with `profile`'s saved values, as the commands using them would say."""
    problems = []
    for key in KEYS.values():
        value = getattr(profile, key.name)
        if value is None or key.check is None:
            continue
        try:
            key.check(value)
        except UsageError as error:
            problems.append(f"{key.name}: {error.message}")
    return problems


def set_value(profile: str, name: str, value: str) -> str:
    """Save `name = value` in `profile` (made if need be); the value as saved."""
    key = key_named(name)
    saved_value = check_value(key, value)
    config = load_config()
    current = config.profile(profile) or Profile(profile)
    changes: dict[str, Any] = {key.name: saved_value}
    config.with_profile(dataclasses.replace(current, **changes)).save()
    return saved_value


def unset_value(profile: str, name: str) -> bool:
    """Remove `name` from `profile`; True when it was set."""
    key = key_named(name)
    if key.set_by is not None:
        raise UsageError(f"{key.name} is set by `{key.set_by}`", hint="run it to change it")
    config = load_config()
    current = config.profile(profile)
    if current is None or getattr(current, key.name) is None:
        return False
    changes: dict[str, Any] = {key.name: None}
    config.with_profile(dataclasses.replace(current, **changes)).save()
    return True
