"""Every secret this process knows, and the scrubbing of what it prints.

A service may echo what it was sent (`SVC0001 bad secret %1` with the secret as `%1`), and a
base URL may carry a password. Rather than trust every message to leave them out, secrets are
remembered where they are loaded (the environment, the keyring, the file store, login's stdin,
every token answered or cached) and `scrub` replaces each with `***`. It is applied where error
messages are made (`AttsmsError`), so a note kept in the history is clean too, and again to every
line written to stderr, the verbose HTTP log included. Data on stdout is not scrubbed: `auth token`
prints a token because that is its job.

Import-free (no httpx, no keyring): `errors` uses it, and `attsms --version` must stay light.
"""

from __future__ import annotations

import os
import re

# The one name of the variable (auth reads it too): a secret that is set is scrubbed even
# before anything reads it.
SECRET_ENV = "ATTSMS_CLIENT_SECRET"
BASE_URL_ENV = "ATTSMS_BASE_URL"
MASK = "***"
# Shorter values are not scrubbed: masking every "1234" in a message would garble it, and a
# secret that short is no secret.
MIN_LENGTH = 4

# Threads (a send's workers) add and read it: set.add and set(...) are each atomic under the GIL,
# which is all this needs (and `threading` would cost `attsms --version` a millisecond).
_known: set[str] = set()
# scheme://user:password@ or scheme://user@: the user info of any URL in a message. A string, not
# compiled here: `re` compiles it on first use, so `attsms --version` does not pay for it.
_USERINFO = r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/\s@]*@"


def remember_secret(value: str | None) -> None:
    """Never print `value` (a client secret, an access or refresh token, a URL's password)."""
    if value and len(value) >= MIN_LENGTH:
        _known.add(value)


def scrub(text: str) -> str:
    """`text` with every known secret replaced by `***` and URLs without their user info.

    A secret is caught as it was given and as a service may echo it back encoded: URL-encoded
    (`%2B`, `%2f`, every character or only some), form-encoded (`+` for a space), or with
    JSON's `\\/` for a slash."""
    secrets = _secrets()
    if secrets:
        ordered = sorted(secrets, key=len, reverse=True)  # a token holding another first
        for secret in ordered:
            if secret in text:
                text = text.replace(secret, MASK)
        if "%" in text or "+" in text or "\\/" in text:
            for secret in ordered:
                text = re.sub(_encoded(secret), MASK, text)
    if "@" in text:
        text = re.sub(_USERINFO, r"\1", text)
    return text


def _encoded(secret: str) -> str:
    """A pattern for `secret` in any mix of its plain, URL-encoded and form-encoded spellings
    (`re` caches it compiled)."""
    parts = []
    for char in secret:
        spellings = [re.escape(char), _percent(char)]
        if char == " ":
            spellings.append(r"\+")
        elif char == "/":
            spellings.append(r"\\/")
        parts.append("(?:" + "|".join(spellings) + ")")
    return "".join(parts)


def _percent(char: str) -> str:
    """`char`'s UTF-8 bytes as %XX, either case of hex digit."""
    return "".join(
        "%" + "".join(f"[{d}{d.lower()}]" if d.isalpha() else d for d in f"{byte:02X}")
        for byte in char.encode("utf-8", "surrogatepass")
    )


def display_url(url: str) -> str:
    """`url` as it may be shown: without a user name or password (`http://admin:pw@h` -> `http://h`)."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return re.sub(_USERINFO, r"\1", url)
    if "@" not in parts.netloc:
        return url
    remember_secret(parts.password)
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def _secrets() -> set[str]:
    """What was remembered, and what the environment holds whether or not it was read yet."""
    secrets = set(_known)
    env_secret = os.environ.get(SECRET_ENV)
    if env_secret and len(env_secret) >= MIN_LENGTH:
        secrets.add(env_secret)
    base_url = os.environ.get(BASE_URL_ENV)
    if base_url and "@" in base_url:
        from urllib.parse import urlsplit

        try:
            password = urlsplit(base_url).password
        except ValueError:
            password = None
        if password and len(password) >= MIN_LENGTH:
            secrets.add(password)
    return secrets


# The secrets a form or JSON body may carry (client secret, access and refresh tokens), for the
# verbose HTTP log: every spelling the token parser accepts (accessToken, ACCESS_TOKEN…), quoted or
# not, whole or cut. Strings, not compiled here: `re` compiles them on first use.
_SECRET_FORM_FIELDS = ("client_secret", "refresh_token", "token", "access_token", "code")
_SECRET_JSON = (
    r'("(?:access_?token|refresh_?token|client_?secret)"\s*:\s*)(?:"(?:[^"\\]|\\.)*"|[^\s,}\]]+)'
)
_SECRET_FORM = r"(\b(?:" + "|".join(_SECRET_FORM_FIELDS) + r")=)[^&\s]*"


def redact_body(text: str) -> str:
    """`text` (a form or JSON body) with the value of every secret field blanked out."""
    text = re.sub(_SECRET_JSON, r'\1"***"', text, flags=re.IGNORECASE)
    return re.sub(_SECRET_FORM, r"\1***", text)


# libpq's keyword/value form (`host=db password='a b' dbname=x`): a value is single-quoted (with
# backslash escapes) or runs to the next blank. In a URL's query, to the next & or #.
_LIBPQ_PASSWORD = r"(?i)(\b(?:ssl)?password\s*=\s*)('(?:[^'\\]|\\.)*'?|[^\s'][^\s]*|(?=\s|$))"
_QUERY_PASSWORD = r"(?i)([?&](?:ssl)?password=)([^&#]*)"


def redact_url(url: str) -> str:
    """`url` (a postgresql:// URL or a libpq `key=value` connection string) with its password
    masked (in the user part, a password= parameter or keyword), the user and host kept, so a
    reader still knows which database it names. The password is remembered as a secret too, so
    an error that quotes it elsewhere is scrubbed."""
    if re.match(r"(?i)[a-z][a-z0-9+.\-]*://", url.lstrip()):
        userinfo = re.search(r"://[^:/?#@]*:([^@/?#]*)@", url)
        if userinfo:
            remember_secret(userinfo.group(1))
        url = re.sub(r"(://[^:/?#@]*):[^@/?#]*@", r"\1:***@", url)
        pattern = _QUERY_PASSWORD
    else:
        pattern = _LIBPQ_PASSWORD
    for found in re.finditer(pattern, url):
        value = found.group(2)
        if value.startswith("'"):
            value = re.sub(r"\\(.)", r"\1", value[1:].removesuffix("'"))
        remember_secret(value)
        if "%" in value:
            from urllib.parse import unquote

            remember_secret(unquote(value))
    return re.sub(pattern, r"\1***", url)
