"""Keyring backends for tests, loaded by name through PYTHON_KEYRING_BACKEND.

They live apart from the test modules so that an attsms child process loads them without pytest.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from keyring.backend import KeyringBackend
from keyring.errors import InitError, KeyringLocked, PasswordDeleteError

STORE_ENV = "ATTSMS_TEST_KEYRING_FILE"


class FileKeyring(KeyringBackend):
    """A keyring that keeps secrets in the JSON file named by ATTSMS_TEST_KEYRING_FILE."""

    priority = 1

    @staticmethod
    def _path() -> Path:
        return Path(os.environ[STORE_ENV])

    def _load(self) -> dict[str, str]:
        try:
            data: dict[str, str] = json.loads(self._path().read_text())
        except FileNotFoundError:
            return {}
        return data

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(f"{service}/{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        data = self._load()
        data[f"{service}/{username}"] = password
        self._path().write_text(json.dumps(data))

    def delete_password(self, service: str, username: str) -> None:
        data = self._load()
        if data.pop(f"{service}/{username}", None) is None:
            raise PasswordDeleteError("no such password")
        self._path().write_text(json.dumps(data))


class LockedKeyring(FileKeyring):
    """A collection the user did not unlock: every call raises KeyringLocked."""

    def get_password(self, service: str, username: str) -> str | None:
        raise KeyringLocked("Failed to unlock the collection!")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise KeyringLocked("Failed to unlock the collection!")


class PromptDismissedKeyring(FileKeyring):
    """gnome-keyring running with no keyring file and no display to create one."""

    def get_password(self, service: str, username: str) -> str | None:
        raise InitError("Failed to create the collection: Prompt dismissed..")


class HangingKeyring(FileKeyring):
    """A D-Bus peer that never answers."""

    def get_password(self, service: str, username: str) -> str | None:
        time.sleep(30)
        return None


class ForgetfulKeyring(FileKeyring):
    """Accepts writes and keeps nothing, like the null backend under another name."""

    def set_password(self, service: str, username: str, password: str) -> None:
        pass


class PlaintextLikeKeyring(FileKeyring):
    """keyrings.alt's plaintext file backend: a low priority says it is not a secure store."""

    priority = 0.5  # type: ignore[assignment]
