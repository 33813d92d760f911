"""The handler runner (receive/handler.py) on a real store with real `sh` handlers: what a handler
gets (stdin JSON, ATTSMS_* variables), what counts as a failure, and the order it runs in."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from attsms.core.errors import UsageError
from attsms.core.models import InboundMessage
from attsms.receive.handler import HandlerConfig, MessageHandler, handler_config
from attsms.store import open_inbox
from attsms.store.inbox import InboxStore
from tests.helpers.support import store_settings

ALICE, BOB = "tel:+12125550100", "tel:+12125550101"


@pytest.fixture
def store() -> Iterator[InboxStore]:
    with open_inbox(store_settings(), "default") as opened:
        yield opened


def config(script: str, **rules: float) -> HandlerConfig:
    return handler_config(f"sh -c '{script}'", backoff=0, **rules)  # type: ignore[arg-type]


def add(store: InboxStore, *messages: tuple[str, str, str, int]) -> None:
    store.add_batch(
        "12345",
        [
            InboundMessage(mid, text, sender, "12345", f"2027-01-15T08:00:{second:02d}Z")
            for mid, text, sender, second in messages
        ],
    )


def test_the_handler_gets_the_message_on_stdin_and_in_its_environment(
    store: InboxStore, tmp_path: Path
) -> None:
    add(store, ("MSG1", "Stop.", ALICE, 5))
    out = tmp_path / "seen"
    script = (
        f"cat > {out}.json; env | grep ^ATTSMS_ | grep -v -e _DIR= -e _DATABASE -e _TEST_REQUIRE_"
        f" -e ATTSMS_CI_ | sort > {out}.env"
    )
    summary = MessageHandler(store, config(script), log=print).run()
    assert (summary.handled, summary.failed, summary.dead) == (1, 0, [])
    assert json.loads((tmp_path / "seen.json").read_text()) == {
        "message_id": "MSG1",
        "received_at": "2027-01-15T08:00:05Z",
        "from": "+12125550100",
        "to": "12345",
        "text": "Stop.",
        "keyword": "stop",
    }
    assert (tmp_path / "seen.env").read_text().splitlines() == [
        "ATTSMS_ATTEMPT=1",
        "ATTSMS_FROM=+12125550100",
        "ATTSMS_KEYWORD=STOP",
        "ATTSMS_MESSAGE_ID=MSG1",
        "ATTSMS_RECEIVED_AT=2027-01-15T08:00:05Z",
        "ATTSMS_TEXT=Stop.",
        "ATTSMS_TO=12345",
    ]
    assert store.handling_list() == []


def test_a_failure_keeps_the_exit_code_and_last_stderr_line_and_holds_the_sender_back(
    store: InboxStore, tmp_path: Path
) -> None:
    add(store, ("MSG1", "bad", ALICE, 1), ("MSG2", "ok", ALICE, 2), ("MSG3", "ok", BOB, 3))
    log: list[str] = []
    script = (
        f'echo "$ATTSMS_MESSAGE_ID" >> {tmp_path}/ran; '
        'case "$ATTSMS_TEXT" in bad) echo first >&2; echo "no good" >&2; exit 3;; esac'
    )
    summary = MessageHandler(store, config(script), log=log.append).run()
    assert (summary.handled, summary.failed, summary.waiting) == (1, 1, 2)
    # Alice's second message waits behind her first; Bob's went.
    assert (tmp_path / "ran").read_text().split() == ["MSG1", "MSG3"]
    [(first, state), (second, _)] = store.handling_list()
    assert (first.message_id, second.message_id) == ("MSG1", "MSG2")
    assert (state.attempts, state.last_error) == (1, "exit 3: no good")
    assert "MSG1 (attempt 1 of 5): exit 3: no good" in log[0]


def test_a_timeout_is_a_failure_and_the_handler_is_stopped(
    store: InboxStore, tmp_path: Path
) -> None:
    add(store, ("MSG1", "slow", ALICE, 1))
    summary = MessageHandler(store, config("sleep 30", timeout=0.3), log=print).run()
    assert summary.failed == 1
    [(_, state)] = store.handling_list()
    assert state.last_error == "timed out after 0.3 s"


def test_the_last_attempt_leaves_a_dead_letter(store: InboxStore) -> None:
    add(store, ("MSG1", "bad", ALICE, 1), ("MSG2", "ok", ALICE, 2))
    summary = MessageHandler(store, config("exit 1", max_attempts=1), log=print).run()
    assert summary.dead == ["MSG1", "MSG2"]
    # A dead letter holds its sender back no more: the next one ran (and failed) in this run.
    assert [m.message_id for m, _ in store.handling_list(failed=True)] == ["MSG1", "MSG2"]


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("", "--exec needs a command"),
        ("sh -c 'unclosed", "cannot read --exec"),
        ("./no-such-handler", "is not an executable file"),
    ],
)
def test_a_command_that_cannot_run_is_refused_before_anything(command: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        handler_config(command)


def test_any_text_reaches_the_handler_whole_on_stdin(store: InboxStore, tmp_path: Path) -> None:
    text = "two\nlines, a NUL \x00 and 😀 \u2028"
    add(store, ("MSG1", text, ALICE, 1))
    script = f'cat > {tmp_path}/in.json; printf %s "$ATTSMS_TEXT" > {tmp_path}/env.txt'
    assert MessageHandler(store, config(script), log=print).run().handled == 1
    assert json.loads((tmp_path / "in.json").read_text())["text"] == text
    # A variable cannot hold a NUL: it is left out there, and only there.
    assert (tmp_path / "env.txt").read_text() == text.replace("\x00", "")


def test_a_child_left_writing_to_stderr_does_not_hold_the_handler_up(store: InboxStore) -> None:
    import time

    add(store, ("MSG1", "hi", ALICE, 1))
    script = "(while true; do echo spam >&2; sleep 0.01; done) & exit 0"
    started = time.monotonic()
    summary = MessageHandler(store, config(script, timeout=10), log=print).run()
    assert summary.handled == 1 and time.monotonic() - started < 5
