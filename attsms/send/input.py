"""What a send is given: the recipients and the message from arguments, files or stdin.

Files are read as bytes and checked here: UTF-8 (a BOM dropped), no NUL bytes, and a size limit
so that `--message-file /dev/zero` or `yes | attsms send …` cannot fill the memory. A recipient
file is read a block at a time, as its lines are asked for (a million numbers are never held as
strings). Every failure is one line naming the file (`UsageError`, exit 2).
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any

from attsms.core.errors import UsageError
from attsms.core.fileutil import input_file_errors, open_input
from attsms.core.numbers import iter_recipient_lines

STDIN = "-"

# Far above any message (4096 bytes) or recipient list (a million numbers is ~13 MB), and a
# bound: `--message-file /dev/zero` or `yes | attsms send …` would otherwise fill the memory.
_MAX_MB = {"message file": 1, "recipient file": 64}


@dataclass(frozen=True)
class SendRequest:
    """A send as the user asked for it: numbers and file names as typed (`-`: stdin)."""

    to: Sequence[str] = ()
    to_file: str | None = None
    message: str | None = None  # or the template, with `template`
    message_file: str | None = None
    template: bool = False  # personal texts: `message` is a {column} template over a CSV
    defaults: Sequence[str] = ()  # with `template`: NAME=VALUE for a field whose cell is empty


@dataclass(frozen=True)
class SendInput:
    # As typed, from the arguments and then the file. The file's entries are read as this is
    # iterated, once (a million numbers are never held as strings): `plan_send` does that.
    numbers: Iterable[str]
    message: str


def read_input(
    numbers: Sequence[str],
    *,
    to_file: str | None = None,
    message: str | None = None,
    message_file: str | None = None,
    stdin: IO[str] | None = None,
) -> SendInput:
    """Recipients from arguments and `to_file`, the text from `message`, `message_file` or stdin.

    `-` as either file means stdin; stdin cannot carry both. The message is read from stdin only
    when neither `message` nor `message_file` is given and stdin is not a terminal. Text read from
    a file or stdin loses its trailing newlines (as `$(cat file)` would). Raises `UsageError`
    naming the file for one that is missing, a directory, or not UTF-8 text.
    """
    if not numbers and to_file is None:
        raise UsageError("no recipients", hint="give numbers as arguments or with --to-file FILE")
    if message is not None and message_file is not None:
        raise UsageError("give the message once: -m TEXT or --message-file FILE, not both")
    stdin_for_message = message is None and (message_file in (None, STDIN))
    if to_file == STDIN and stdin_for_message:
        raise UsageError(
            "stdin cannot carry both the recipients (--to-file -) and the message",
            hint="give the text with -m TEXT or --message-file FILE",
        )
    entries: Iterable[str] = list(numbers)
    if to_file is not None:
        lines = _source_lines(to_file, stdin, "recipient file")
        entries = itertools.chain(entries, iter_recipient_lines(lines))
    if message is None:
        if message_file is None and (stdin is None or _isatty(stdin)):
            raise UsageError(
                "no message", hint="give it with -m TEXT or --message-file FILE, or pipe it in"
            )
        source = message_file if message_file is not None else STDIN
        message = read_message(source, stdin)
        if not message.strip() and source == STDIN:
            raise UsageError(
                "message is empty: stdin held no text", hint="give it with -m TEXT, or pipe it in"
            )
    return SendInput(numbers=entries, message=message)


def read_message(name: str, stdin: IO[str] | None) -> str:
    """The text of a message file (`-`: stdin), checked, without its trailing newlines."""
    return _read_source(name, stdin, "message file").rstrip("\r\n")


def _source_lines(name: str, stdin: IO[str] | None, what: str) -> Iterator[str]:
    """The lines of a file (or `-`: stdin) as they are read, checked as `_read_source` checks a
    whole file. Opening errors are raised now; the others as the lines are read."""
    limit = _MAX_MB[what] << 20
    if name == STDIN:
        if stdin is None:
            raise UsageError("stdin is not available")
        buffer: Any = getattr(stdin, "buffer", None)
        if buffer is None:  # a StringIO (tests, embedding): already text
            return (piece for line in stdin for piece in line.splitlines())
        return _binary_lines(buffer, "stdin", "stdin", limit, what)
    file = open_input(name, what)  # closed by _binary_lines once read
    return _binary_lines(file, name, f"{what} {name}", limit, what)


def _binary_lines(file: IO[bytes], name: str, source: str, limit: int, what: str) -> Iterator[str]:
    """The text of `file` a block at a time (cut after a newline), as lines."""
    with contextlib.closing(file):
        offset = 0  # bytes before `pending`
        pending = bytearray()  # a line not ended yet (a bytearray: a long one grows in place)
        while True:
            try:
                block = file.read(min(1 << 16, limit + 1 - offset - len(pending)) or 1)
            except OSError as error:
                raise UsageError(f"cannot read {source}: {error.strerror or error}") from None
            if offset + len(pending) + len(block) > limit:
                raise UsageError(f"{source} is over {limit >> 20} MB", hint="is it a list?")
            end = block.rfind(b"\n") + 1 if block else len(block)
            if block and end == 0:  # no line end yet: read on (up to the limit)
                pending += block
                continue
            data = bytes(pending) + block[:end] if block else bytes(pending)
            pending = bytearray(block[end:])
            if not data:
                return
            start = 3 if offset == 0 and data.startswith(b"\xef\xbb\xbf") else 0
            try:
                text = data[start:].decode("utf-8")
            except UnicodeDecodeError as error:
                at = offset + start + error.start
                raise UsageError(
                    f"{name} is not UTF-8 text (byte 0x{data[start + error.start]:02x} at offset"
                    f" {at})",
                    hint="save it as UTF-8",
                ) from None
            if "\x00" in text:
                raise UsageError(
                    f"{name} looks binary (it holds NUL bytes)", hint="give a text file"
                )
            offset += len(data)
            yield from text.splitlines()
            if not block:
                return


def _read_source(name: str, stdin: IO[str] | None, what: str) -> str:
    limit = _MAX_MB[what] << 20
    if name == STDIN:
        if stdin is None:
            raise UsageError("stdin is not available")
        return _read_stdin(stdin, limit, what)
    with open_input(name, what) as file, input_file_errors(name, what):
        data = file.read(limit + 1)
    _check_size(data, limit, f"{what} {name}", what)
    return _decode(data, name)


def _read_stdin(stdin: IO[str], limit: int, what: str) -> str:
    buffer: Any = getattr(stdin, "buffer", None)
    if buffer is None:  # a StringIO (tests, embedding): already text
        return stdin.read()
    data = buffer.read(limit + 1)
    _check_size(data, limit, "stdin", what)
    return _decode(data, "stdin")


def _check_size(data: bytes, limit: int, source: str, what: str) -> None:
    if len(data) > limit:
        hint = "a message is at most 4096 bytes" if what == "message file" else "is it a list?"
        raise UsageError(f"{source} is over {limit >> 20} MB", hint=hint)


def _decode(data: bytes, name: str) -> str:
    try:
        text = data.decode("utf-8-sig")  # a BOM is not part of the text (and would force UCS-2)
    except UnicodeDecodeError as error:
        raise UsageError(
            f"{name} is not UTF-8 text (byte 0x{data[error.start]:02x} at offset {error.start})",
            hint="save it as UTF-8",
        ) from None
    if "\x00" in text:
        raise UsageError(f"{name} looks binary (it holds NUL bytes)", hint="give a text file")
    return text


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
