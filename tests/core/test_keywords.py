"""STOP as people type it: the opt-out, opt-in and help keywords of docs/opt-out-keywords.md.

A message is a keyword when, once normalized (NFKC, case-folded, every character that is not a
letter or digit dropped: punctuation, spaces, emoji, invisible characters), it is exactly one of
the table's words. Only the whole message counts: "stopwatch for sale", "don't stop" and
"STOP IT NOW" are not keywords (people write those to a person, who reads `attsms inbox list`).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from attsms.core.keywords import HELP_WORDS, OPT_IN_WORDS, OPT_OUT_WORDS, keyword_of
from tests.helpers.support import Cli, SandboxHttp

Server = Callable[..., SandboxHttp]

OPTING_OUT = [
    "STOP",
    "Stop.",
    "stop!",
    "Stop!!!",
    "  stop ",
    "ＳＴＯＰ",  # full-width, from some phone keyboards
    "STOPALL",
    "Stop all",
    "STOP ALL",
    "Revoke",
    "REVOKE.",
    "OPT OUT",
    "opt-out",
    "optout",
    "Opt_Out",
    "opt out.",
    "UNSUBSCRIBE",
    "Unsubscribe!",
    "cancel",
    "End.",
    "quit!",
    '"stop"',
    "(stop)",
    "🛑 STOP 🛑",
    "stop 🙏",
    "stop👍🏽",  # an emoji with a skin-tone modifier
    "Stop\ufe0f",  # a stray variation selector
    "stop\u200b",  # a zero-width space from copy-paste
    "\u00a0STOP\u2003",
    "S T O P",
    "s.t.o.p",
    "STOP\n",
]
OPTING_IN = ["START", "start!", "Start.", "Unstop", "UN-STOP", "yes", "Yes!", " YES "]
ASKING_FOR_HELP = ["HELP", "help?", "Help!", "Info", "INFO."]
NOT_KEYWORDS = [
    "Hello",
    "stopwatch for sale",
    "don't stop",
    "STOP IT NOW",
    "Stop it",
    "please stop",
    "stop please",
    "STOPP",
    "stop2",
    "2 stop",
    "unstoppable",
    "non-stop",
    "endless",
    "the end",
    "I quit smoking",
    "revoked",
    "opt in",
    "Start over",
    "yes please",
    "helpful",
    "",
    "   ",
    "🛑",
    "!!!",
]


@pytest.mark.parametrize("text", OPTING_OUT)
def test_spellings_that_opt_out(text: str) -> None:
    assert keyword_of(text) == "stop"


@pytest.mark.parametrize("text", OPTING_IN)
def test_spellings_that_opt_back_in(text: str) -> None:
    assert keyword_of(text) == "start"


@pytest.mark.parametrize("text", ASKING_FOR_HELP)
def test_spellings_that_ask_for_help(text: str) -> None:
    assert keyword_of(text) == "help"


@pytest.mark.parametrize("text", NOT_KEYWORDS)
def test_messages_that_are_not_keywords(text: str) -> None:
    assert keyword_of(text) is None


def test_the_tables_hold_the_ctia_and_fcc_words() -> None:
    assert {"stop", "stopall", "unsubscribe", "cancel", "end", "quit"} <= OPT_OUT_WORDS
    assert {"revoke", "optout"} <= OPT_OUT_WORDS  # FCC 2024 revocation order
    assert {"start", "unstop", "yes"} <= OPT_IN_WORDS
    assert {"help", "info"} <= HELP_WORDS


def test_the_documented_table_is_the_one_in_the_code() -> None:
    from pathlib import Path

    doc = (Path(__file__).parents[2] / "docs" / "opt-out-keywords.md").read_text()
    table = doc.split("## The table", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1:3] for line in table.splitlines() if line.startswith("| `")]
    documented = {cell.strip(" `").lower(): effect.strip() for cell, effect in rows}
    effects = {"opt out": "stop", "opt in": "start", "help": "help"}
    assert {word: effects[effect] for word, effect in documented.items()} == {
        **dict.fromkeys(OPT_OUT_WORDS, "stop"),
        **dict.fromkeys(OPT_IN_WORDS, "start"),
        **dict.fromkeys(HELP_WORDS, "help"),
    }


# --- properties --------------------------------------------------------------------------------

KEYWORDS = {
    **dict.fromkeys((*OPT_OUT_WORDS, "opt out", "stop all", "opt-out"), "stop"),
    **dict.fromkeys(OPT_IN_WORDS, "start"),
    **dict.fromkeys(HELP_WORDS, "help"),
}
# Neither letters nor digits: spacing, invisible characters, punctuation, symbols, emoji.
_NOISE = st.text(
    alphabet=st.sampled_from(
        [
            *" \t\n\r\u00a0\u2003\u200b\u200d\u2060\ufeff\ufe0f.,;:!?¡¿'\"`()[]{}<>-_–—…*#/\\|~^",
            *("🛑", "🙏", "👍", "🏽", "❤", "✋", "😡", "🚫", "™", "©", "$", "%", "&", "+", "="),
        ]
    ),
    max_size=5,
)


def _any_case(word: str) -> st.SearchStrategy[str]:
    return st.lists(st.booleans(), min_size=len(word), max_size=len(word)).map(
        lambda flips: "".join(c.upper() if f else c for c, f in zip(word, flips, strict=True))
    )


@st.composite
def _wrapped(draw: st.DrawFn, word: str) -> str:
    """`word` in random case, with noise before, after and (sometimes) between its letters."""
    cased = draw(_any_case(word))
    if draw(st.booleans()):
        cased = "".join(c + draw(_NOISE) for c in cased[:-1]) + cased[-1]
    return draw(_NOISE) + cased + draw(_NOISE)


@given(data=st.data(), word=st.sampled_from(sorted(KEYWORDS)))
def test_any_keyword_in_any_case_punctuation_spacing_or_emoji_is_recognized(
    data: st.DataObject, word: str
) -> None:
    assert keyword_of(data.draw(_wrapped(word))) == KEYWORDS[word]


@given(
    data=st.data(),
    word=st.sampled_from(sorted(KEYWORDS)),
    extra=st.text(alphabet=st.characters(categories=["Lu", "Ll", "Lo", "Nd"]), min_size=1),
    where=st.sampled_from(["before", "after", "inside"]),
)
def test_a_letter_or_digit_outside_the_keyword_makes_it_no_keyword(
    data: st.DataObject, word: str, extra: str, where: str
) -> None:
    letters = word.replace(" ", "").replace("-", "")
    if where == "before":
        text = extra + letters
    elif where == "after":
        text = letters + extra
    else:
        cut = data.draw(st.integers(1, len(letters) - 1))
        text = letters[:cut] + extra + letters[cut:]
    assume(text.lower() not in {k.replace(" ", "").replace("-", "") for k in KEYWORDS})
    wrapped = data.draw(_NOISE) + text + data.draw(_NOISE)
    assert keyword_of(wrapped) is None


@given(text=st.one_of(st.text(), _wrapped("unsubscribe"), st.sampled_from(OPTING_OUT)))
def test_the_quick_check_for_long_messages_never_hides_a_keyword(text: str) -> None:
    from attsms.core.keywords import _letters_and_digits

    word = _letters_and_digits(text)
    expected = "stop" if word in OPT_OUT_WORDS else "start" if word in OPT_IN_WORDS else None
    assert keyword_of(text) == ("help" if word in HELP_WORDS else expected)


@given(text=_NOISE)
def test_a_message_of_no_letters_or_digits_is_no_keyword(text: str) -> None:
    assert keyword_of(text) is None


# --- case, spacing, longer messages ------------------------------------------------------------

_SPACE = st.text(alphabet=" \t\n\r\u00a0\u2003\u200b", max_size=4)


@given(data=st.data())
def test_keywords_count_in_any_case_and_spacing(data: st.DataObject) -> None:
    for words, expected in ((OPT_OUT_WORDS, "stop"), (OPT_IN_WORDS, "start"), (HELP_WORDS, "help")):
        word = data.draw(st.sampled_from(sorted(words)))
        text = data.draw(_SPACE) + data.draw(_any_case(word)) + data.draw(_SPACE)
        assert keyword_of(text) == expected


@given(word=st.sampled_from(sorted(OPT_OUT_WORDS | OPT_IN_WORDS | HELP_WORDS)), extra=st.text())
def test_a_keyword_inside_a_longer_message_is_not_one(word: str, extra: str) -> None:
    if extra.strip():
        assert keyword_of(f"{word} {extra.strip()}x") is None
        assert keyword_of(f"x{extra.strip()} {word}") is None


# "stop." and "S T O P" are keywords: OPTING_OUT above has the whole corpus.
@pytest.mark.parametrize("text", ["Stop it", "STOPP", "", "   ", "please stop"])
def test_not_keywords(text: str) -> None:
    assert keyword_of(text) is None


def test_full_width_letters_from_phone_keyboards_count() -> None:
    assert keyword_of("ＳＴＯＰ") == "stop"


# --- end to end --------------------------------------------------------------------------------


def test_a_stop_as_people_type_it_opts_out_and_send_does_not_text_them(
    cli: Cli, sandbox_http: Server, use_server: Callable[[SandboxHttp], None]
) -> None:
    server = sandbox_http()
    stops = ["Stop.", "STOPALL", "stop!", "Revoke", "OPT OUT", "opt-out"]
    numbers = [f"+1212555{n:04d}" for n in range(len(stops))]
    for number, text in zip(numbers, stops, strict=True):
        server.inject(number, text)
    server.inject("+12125559999", "stopwatch for sale")  # not a keyword
    use_server(server)
    assert cli("inbox", "pull", "12345", "-q").exit_code == 0

    listed = cli("optout", "list", "--json")
    assert listed.exit_code == 0, listed.stderr
    assert sorted(o["number"] for o in listed.json()) == sorted(numbers)

    cli("send", *numbers, "+12125559999", "-m", "weekly news")
    delivered = server.stats()["delivered_to"]
    assert not {f"tel:{n}" for n in numbers} & set(delivered)
    assert not set(numbers) & set(delivered)
