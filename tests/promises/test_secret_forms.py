"""Secrets in every form the code accepts (issue 23 §7).

A libpq `key=value` connection string with `password=`, wherever a database URL is read; a client
secret the service echoes back URL-encoded (`%2B`, `%2F`, `+` for a space). `login`'s refusal of
plain HTTP is in tests/cli/test_login_plain_http.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from tests.helpers.support import Cli, SandboxHttp

StartSandbox = Callable[..., SandboxHttp]

LIBPQ_PASSWORD = "s3cret-libpq-7c1e"
LIBPQ_URLS = (
    f"host=db user=a password={LIBPQ_PASSWORD} dbname=x",
    f"host=db user=a password = {LIBPQ_PASSWORD} dbname=x",
    f"host=db password='{LIBPQ_PASSWORD} with space' dbname=x",
    f"dbname=x PASSWORD={LIBPQ_PASSWORD}",
)


@pytest.fixture(autouse=True)
def forget_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    from attsms.core import redaction

    monkeypatch.setattr(redaction, "_known", set())


@pytest.mark.parametrize("url", LIBPQ_URLS)
def test_a_libpq_password_is_masked_in_every_error_line(
    cli: Cli, url: str, monkeypatch: pytest.MonkeyPatch, isolated_home: Path
) -> None:
    flag = cli("--database-url", url, "optout", "list")
    monkeypatch.setenv("ATTSMS_DATABASE_URL", url)
    from_env = cli("optout", "list")
    status = cli("auth", "status", "--json")
    monkeypatch.delenv("ATTSMS_DATABASE_URL")
    config = isolated_home / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(f"[profiles.default]\ndatabase_url = {json.dumps(url)}\n")
    from_profile = cli("optout", "list")
    runs = [flag, from_env, status, from_profile]
    assert [flag.exit_code, from_env.exit_code, from_profile.exit_code] == [2, 2, 2], runs
    for run in (flag, from_env, from_profile):
        assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert "password=***" in flag.stderr.replace(" = ", "=").lower()
    printed = "".join(run.stdout + run.stderr for run in runs)
    assert LIBPQ_PASSWORD not in printed, printed


def test_redact_url_masks_the_libpq_forms() -> None:
    from attsms.core.redaction import redact_url

    assert redact_url("host=db user=a password=s3cret dbname=x") == (
        "host=db user=a password=*** dbname=x"
    )
    assert redact_url("host=db password = 'a b\\' c' dbname=x") == "host=db password = *** dbname=x"
    assert redact_url("postgresql://u:pw@h/x?password=p2") == "postgresql://u:***@h/x?password=***"
    assert redact_url("postgresql://u@h/x") == "postgresql://u@h/x"
    assert redact_url("host=db password=a://b@c?password=d") == "host=db password=***"


# --- a secret the service echoes back, encoded --------------------------------------------------

ENCODED_SECRET = "S3c+r/et=Echo d9&Ü"


def _forms(secret: str) -> set[str]:
    """Every spelling a service might echo `secret` in."""
    forms = {secret, quote(secret), quote(secret, safe=""), quote_plus(secret)}
    forms |= {quote_plus(secret, safe="/"), secret.replace("/", "\\/")}
    forms |= {re.sub("%[0-9A-F]{2}", lambda hex: hex[0].lower(), form) for form in list(forms)}
    return forms


def _echoing_fault(echoed: str) -> dict[str, Any]:
    body = {
        "RequestError": {
            "ServiceException": {
                "MessageId": "SVC0001",
                "Text": "bad secret %1",
                "Variables": echoed,
            }
        }
    }
    return {"path_prefix": "/oauth/v4/token", "status": 400, "body": json.dumps(body), "count": 100}


def test_scrub_catches_url_and_form_encoded_secrets() -> None:
    from attsms.core.redaction import remember_secret, scrub

    remember_secret(ENCODED_SECRET)
    for form in _forms(ENCODED_SECRET):
        assert scrub(f"refused {form} here") == "refused *** here", form
    assert scrub("S3c%2Br%2Fet") == "S3c%2Br%2Fet"  # a part of it is no secret
    assert scrub("100% sure + done") == "100% sure + done"


@pytest.mark.parametrize("encode", [quote_plus, lambda s: quote(s, safe="")])
def test_a_secret_echoed_url_encoded_never_reaches_the_output(
    cli: Cli, sandbox_http: StartSandbox, encode: Callable[[str], str]
) -> None:
    server = sandbox_http(client_id="enc-client", client_secret=ENCODED_SECRET)
    server.faults(_echoing_fault(encode(ENCODED_SECRET)))
    env = server.env()
    runs = [
        cli.process("send", "+12125550100", "-m", "hi", env=env),
        cli.process("--verbose", "auth", "token", "--json", env=env),
    ]
    no_env = {"ATTSMS_CLIENT_ID": "", "ATTSMS_CLIENT_SECRET": "", "ATTSMS_BASE_URL": ""}
    login = ("login", "--client-id", "enc-client", "--client-secret-stdin", "--store", "file")
    runs.append(cli.process(*login, "--base-url", server.url, input=ENCODED_SECRET, env=no_env))
    assert all(run.exit_code != 0 for run in runs), [r.stderr for r in runs]
    assert "bad secret ***" in runs[-1].stderr, runs[-1].stderr
    printed = "".join(run.stdout + run.stderr for run in runs)
    for form in _forms(ENCODED_SECRET):
        assert form not in printed, (form, printed)
