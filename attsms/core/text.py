"""Wording shared by messages: how a long list is named in one line."""

from __future__ import annotations

from collections.abc import Sequence

# How many items a message names before it says "and N more".
MAX_NAMED = 5


def first_few(names: Sequence[str], total: int | None = None) -> str:
    """`a, b, c, d, e and 7 more`: the first MAX_NAMED of `names`, then how many more of `total`
    (default: all of `names`; a caller that kept only the first few passes the real count)."""
    total = len(names) if total is None else total
    more = f" and {total - MAX_NAMED} more" if total > MAX_NAMED else ""
    return ", ".join(names[:MAX_NAMED]) + more
