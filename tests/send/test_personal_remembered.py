"""Issue 25: `scan` renders, checks and counts a text many rows share once, remembering it by the
cells it comes from (`personal._Texts`). A file read with nothing remembered must give the same
facts, the same plan and the same refusals, whatever its rows."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from attsms.core.errors import UsageError
from attsms.send import personal
from attsms.send.input import SendRequest

_PHONES = ["+12125550100", "2125550101", "(212) 555-0102", "12345", "+14165550100", "abc", "", " "]
_NAMES = ["Ana", "Bo", "", " ", "Zoë", "😀", "x" * 300]
_ROW = st.tuples(
    st.sampled_from(_PHONES) | st.integers(0, 40).map(lambda i: f"+1212555{i:04d}"),
    st.sampled_from(_NAMES),
    st.sampled_from(["2", "", "3"]),
)
_TEMPLATES = [
    "Hi {first_name}",
    "Hi {first_name}, {party} at {time}",
    "Static",
    "{first_name}{party}",
]


def _outcome(path: Path, template: str, defaults: list[str]) -> object:
    request = SendRequest(to_file=str(path), message=template, template=True, defaults=defaults)
    try:
        facts, plan = personal.read_template_send(
            request, region="US", stdin=io.StringIO(), planned=True
        )
    except UsageError as error:
        return error.message, error.hint
    assert plan is not None
    return (
        facts.summary(),
        facts.digest,
        sorted(facts.shared.items()),
        list(facts.codes),
        [
            (list(group), text)
            for group, text in zip(plan.groups or (), plan.texts or (), strict=True)
        ],
    )


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(_ROW, min_size=1, max_size=120),
    template=st.sampled_from(_TEMPLATES),
    defaults=st.sampled_from([[], ["first_name=there"], ["party=1"]]),
    remembered=st.sampled_from([1, 3, 1024]),
)
def test_remembered_texts_give_what_rendering_each_row_gives(
    rows: list[tuple[str, str, str]], template: str, defaults: list[str], remembered: int
) -> None:
    if "{time}" in template:
        defaults = [*defaults, "time=8pm"]
    defaults = [d for d in defaults if "{" + d.partition("=")[0] + "}" in template]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "people.csv"
        lines = ["phone,first_name,party", *(",".join(row) for row in rows)]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        with mock.patch.object(personal._Texts, "REMEMBERED", remembered):
            fast = _outcome(path, template, defaults)
        with mock.patch.object(personal._Texts, "REMEMBERED", 0):
            slow = _outcome(path, template, defaults)
    assert fast == slow
