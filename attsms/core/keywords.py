"""The STOP, START and HELP keywords: which inbound messages are one, as people type them.

The inbox store commits a STOP with the opt-out it causes, and `receive` tells a listener which
message is a keyword: both ask `keyword_of`, so both read a message the same way. The words and
how a message is normalized before it is compared: docs/opt-out-keywords.md, kept in step with
this module.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

Keyword = Literal["stop", "start", "help"]

# The whole message, normalized by `_letters_and_digits` (docs/opt-out-keywords.md): the CTIA
# short-code keywords, and REVOKE and OPT OUT, which the FCC's 2024 revocation order names as
# reasonable ways to say stop ("opt out", "opt-out" and "optout" all normalize to "optout").
OPT_OUT_WORDS = frozenset(
    {"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout"}
)
OPT_IN_WORDS = frozenset({"start", "unstop", "yes"})
HELP_WORDS = frozenset({"help", "info"})


def keyword_of(text: str) -> Keyword | None:
    """ "stop", "start" or "help" when the whole message is such a keyword as people type it:
    any case, punctuation, spacing or emoji ("Stop.", "opt-out", "🛑 STOP"), but no other letter
    or digit ("stopwatch", "don't stop" are not keywords). See docs/opt-out-keywords.md.
    """
    if _TOO_MANY_LETTERS.search(text):
        return None  # the common case, a sentence: cheap, since it runs before the commit
    word = _letters_and_digits(text)
    if word in OPT_OUT_WORDS:
        return "stop"
    if word in OPT_IN_WORDS:
        return "start"
    if word in HELP_WORDS:
        return "help"
    return None


# More letters and digits than the longest keyword has: no keyword can come of normalizing them
# (NFKC merges a letter with a mark, or Hangul jamo into a syllable; casefolding only lengthens).
_LONGEST_KEYWORD = max(map(len, OPT_OUT_WORDS | OPT_IN_WORDS | HELP_WORDS))
_TOO_MANY_LETTERS = re.compile(rf"(?:[^\W_][\W_]*){{{_LONGEST_KEYWORD + 1}}}")
_NOT_ASCII_LETTER_OR_DIGIT = re.compile(r"[^a-z0-9]")


def _letters_and_digits(text: str) -> str:
    """The message's letters and digits only, compatibility-normalized and case-folded.

    NFKC maps full-width and styled letters ("ＳＴＯＰ", "𝐒𝐓𝐎𝐏") to plain ones; case folding
    ignores case; dropping every other character (Unicode categories other than L and N)
    ignores punctuation, spacing, emoji, skin-tone and variation selectors, zero-width
    characters and combining marks, wherever they are. Symbols go before NFKC too, which would
    turn "™" into the letters "TM".
    """
    if text.isascii():  # most messages: the same result, at C speed
        return _NOT_ASCII_LETTER_OR_DIGIT.sub("", text.lower())
    kept = "".join(c for c in text if unicodedata.category(c)[0] in "LNM")
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", kept).casefold())
    return "".join(c for c in folded if unicodedata.category(c)[0] in "LN")
