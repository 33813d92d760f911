"""Personal texts (issue 17): the `{column}` template language, the CSV it reads, the dry-run facts
and the requests it plans. Hostile templates and files must end in exit 2 with one clear line."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from attsms.core.errors import ExitCode, UsageError
from attsms.send.csv_source import CsvSource
from attsms.send.personal import Facts, SourceChangedError, batches, scan
from attsms.send.plan import BATCH_SIZE
from attsms.send.template import Template, parse_defaults, parse_template
from tests.helpers.support import SandboxHttp

Write = Callable[..., Path]


@pytest.fixture
def write(tmp_path: Path) -> Write:
    def make(text: str | bytes, name: str = "people.csv") -> Path:
        path = tmp_path / name
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        return path

    return make


def _refused(call: Callable[[], object]) -> str:
    with pytest.raises(UsageError) as caught:
        call()
    assert caught.value.exit_code == ExitCode.USAGE
    text = str(caught.value)
    assert "\n" not in text
    return text


def _scan(path: Path, template: str, defaults: dict[str, str] | None = None) -> Facts:
    with CsvSource(str(path)) as source:
        return scan(parse_template(template), defaults or {}, source)


def _texts(path: Path, template: str, defaults: dict[str, str] | None = None) -> dict[str, str]:
    """address -> text, over every batch, asserting nobody is in two."""
    tpl, values = parse_template(template), defaults or {}
    got: dict[str, str] = {}
    with CsvSource(str(path)) as source:
        facts = scan(tpl, values, source)
        for batch in batches(tpl, values, source, facts):
            assert 1 <= len(batch.recipients) <= BATCH_SIZE
            for r in batch.recipients:
                assert r.address not in got
                assert r.text == batch.text
                got[r.address] = r.text
    return got


# --- the language ----------------------------------------------------------------------------


def test_fields_and_literal_braces() -> None:
    tpl = parse_template("Hi {first_name}, {{not a field}} at {time} for {first_name}")
    assert tpl.fields == ("first_name", "time")
    values = {"first_name": "Ana", "time": "7:30"}
    assert tpl.render(values) == "Hi Ana, {not a field} at 7:30 for Ana"


def test_a_value_holding_braces_is_not_a_template_again() -> None:
    tpl = parse_template("Hi {name}")
    assert tpl.render({"name": "{0.__class__} {name}"}) == "Hi {0.__class__} {name}"


@pytest.mark.parametrize(
    ("template", "says"),
    [
        ("{0.__class__}", "attribute access is not allowed"),
        ("{name.attr}", "attribute access is not allowed"),
        ("{name[0]}", "indexing is not allowed"),
        ("{name:>10}", "a format spec is not allowed"),
        ("{name!r}", "a conversion is not allowed"),
        ("{a{b}}", "nested braces are not allowed"),
        ("Hi {name", "never closed"),
        ("Hi name}", "closes nothing"),
        ("Hi {}", "empty field {}"),
        ("Hi {   }", "empty field {}"),
        ("{first\nname}", "control character"),
    ],
)
def test_hostile_templates_are_refused_naming_the_problem(template: str, says: str) -> None:
    line = _refused(lambda: parse_template(template))
    assert line.startswith("template: ")
    assert says in line
    assert "at character" in line


def test_the_position_points_at_the_offending_character() -> None:
    line = _refused(lambda: parse_template("Hello there {name.upper}"))
    assert "at character 18" in line


# Names the language accepts: no braces, none of . [ ] : !, no control characters, not blank.
_names = st.text(
    st.characters(blacklist_characters="{}.[]:!", blacklist_categories=("Cc", "Cs")),
    min_size=1,
    max_size=12,
).filter(lambda n: n.strip() == n and n != "")
_literals = st.text(st.characters(blacklist_categories=["Cs"]), max_size=20)


def _escape(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


@given(_literals)
def test_escaped_text_renders_as_itself(text: str) -> None:
    tpl = parse_template(_escape(text))
    assert tpl.fields == ()
    assert tpl.render({}) == text


@given(st.lists(st.one_of(_literals, _names.map(lambda n: ("field", n))), max_size=8))
def test_any_mix_of_text_and_fields_renders_as_plain_substitution(
    parts: list[str | tuple[str, str]],
) -> None:
    source = "".join(_escape(p) if isinstance(p, str) else "{" + p[1] + "}" for p in parts)
    values = {p[1]: f"<{p[1]}>" for p in parts if isinstance(p, tuple)}
    expected = "".join(p if isinstance(p, str) else values[p[1]] for p in parts)
    tpl = parse_template(source)
    assert tpl.render(values) == expected
    assert set(tpl.fields) == set(values)


@given(st.text(max_size=40))
def test_any_text_parses_or_is_a_usage_error(text: str) -> None:
    try:
        tpl = parse_template(text)
    except UsageError as error:
        assert error.exit_code == ExitCode.USAGE
        return
    # What parses never reaches into an object: every field is a plain name.
    for name in tpl.fields:
        assert not set(name) & set("{}.[]:!")
    rendered = tpl.render(dict.fromkeys(tpl.fields, "X"))
    assert rendered.count("X") >= len(tpl.fields) or not tpl.fields


@given(_names, st.sampled_from([".x", "[0]", ":>9", "!r", ".__class__"]))
def test_anything_beyond_a_name_is_refused(name: str, tail: str) -> None:
    with pytest.raises(UsageError):
        parse_template("{" + name + tail + "}")


def test_defaults() -> None:
    assert parse_defaults(["first_name=there", "title=", "x=a=b"]) == {
        "first_name": "there",
        "title": "",
        "x": "a=b",
    }
    assert "NAME=VALUE" in _refused(lambda: parse_defaults(["first_name"]))
    assert "NAME=VALUE" in _refused(lambda: parse_defaults(["=there"]))
    assert "twice" in _refused(lambda: parse_defaults(["a=1", "a=2"]))


# --- the CSV ---------------------------------------------------------------------------------

PEOPLE = "phone,first_name,time\n212-555-0100,Ana,7:30\n(312) 555-0101,Bo,8:00\n"


def test_each_row_gets_its_own_text(write: Write) -> None:
    path = write(PEOPLE)
    assert _texts(path, "Hi {first_name}, your table at {time}") == {
        "tel:+12125550100": "Hi Ana, your table at 7:30",
        "tel:+13125550101": "Hi Bo, your table at 8:00",
    }


def test_a_bom_and_crlf_from_excel_are_read(write: Write) -> None:
    path = write(("\ufeff" + PEOPLE).replace("\n", "\r\n").encode("utf-8"))
    texts = _texts(path, "{first_name}")
    assert texts == {"tel:+12125550100": "Ana", "tel:+13125550101": "Bo"}


def test_the_phone_column_is_found_as_for_to_file(write: Write) -> None:
    path = write("First Name,Account Number,Mobile Phone\nAna,123456,2125550100\n")
    assert _texts(path, "Hi {First Name} ({Account Number})") == {
        "tel:+12125550100": "Hi Ana (123456)"
    }


def test_formulas_are_just_text(write: Write) -> None:
    path = write('phone,name\n2125550100,"=HYPERLINK(""http://x"",""y"")"\n2125550101,=1+1\n')
    assert _texts(path, "Hi {name}") == {
        "tel:+12125550100": 'Hi =HYPERLINK("http://x","y")',
        "tel:+12125550101": "Hi =1+1",
    }


def test_blank_lines_comments_and_blank_phones_are_skipped(write: Write) -> None:
    path = write("phone,name\n\n# a comment\n,nobody\n2125550100,Ana\n(212) 555-0100,Ana\n")
    facts = _scan(path, "Hi {name}")
    assert (facts.recipients, facts.skipped, facts.duplicates) == (1, 1, 1)
    assert _texts(path, "Hi {name}") == {"tel:+12125550100": "Hi Ana"}  # the same text: once


def test_one_number_with_two_texts_is_refused_naming_it_and_both_lines(write: Write) -> None:
    path = write("phone,name\n2125550100,Ana\n2125550101,Bo\n2125550100,Ana again\n")
    error = _refused(lambda: _scan(path, "Hi {name}"))
    assert "the same number with different texts on 1 row: +12125550100 (lines 2 and 4)" in error


def test_duplicate_headers_are_refused(write: Write) -> None:
    path = write("phone,name,Name,name\n2125550100,a,b,c\n")
    assert "column 'name' twice" in _refused(lambda: _scan(path, "Hi {name}"))


def test_a_file_without_a_header_is_refused(write: Write) -> None:
    path = write("2125550100,Ana\n")
    assert "header row" in _refused(lambda: _scan(path, "Hi {name}"))


def test_a_header_without_a_phone_column_is_refused(write: Write) -> None:
    path = write("name,time\nAna,7:30\n")
    assert "no phone number column" in _refused(lambda: _scan(path, "Hi {name}"))


def test_a_10_mb_cell_is_refused(write: Write) -> None:
    path = write("phone,name\n2125550100,Ana\n2125550101," + "x" * (10 << 20) + "\n")
    assert "longer than" in _refused(lambda: _scan(path, "Hi {name}"))
    # Quoted and spread over short lines: still one cell.
    quoted = '"' + ("y" * 99 + "\n") * ((10 << 20) // 100) + '"'
    path = write(f"phone,name\n2125550100,{quoted}\n", name="quoted.csv")
    line = _refused(lambda: _scan(path, "Hi {name}"))
    assert "line 2" in line and "cell larger than 131,072 characters" in line


def test_an_unclosed_quote_is_refused(write: Write) -> None:
    path = write('phone,name\n2125550100,"Ana\n' + "2125550101,Bo\n" * 20_000)
    assert "cell larger than" in _refused(lambda: _scan(path, "Hi {name}"))


def test_a_file_that_is_not_utf8_is_refused(write: Write) -> None:
    path = write("phone,name\n2125550100,Jos\xe9\n".encode("latin-1"))
    assert "not UTF-8" in _refused(lambda: _scan(path, "Hi {name}"))


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    assert "not found" in _refused(lambda: _scan(tmp_path / "nope.csv", "Hi"))
    assert "directory" in _refused(lambda: _scan(tmp_path, "Hi"))


def test_empty_and_header_only_files_are_refused(write: Write) -> None:
    assert "empty" in _refused(lambda: _scan(write(""), "Hi"))
    assert "empty" in _refused(lambda: _scan(write("\ufeff\n\n# only comments\n"), "Hi"))
    assert "no recipients" in _refused(lambda: _scan(write("phone,name\n,Ana\n"), "Hi {name}"))


def test_an_endless_file_is_refused_without_reading_it_all() -> None:
    assert "longer than" in _refused(lambda: _scan(Path("/dev/zero"), "Hi"))


def test_stdin_is_read_twice_through_a_spool() -> None:
    tpl = parse_template("Hi {first_name}")
    with CsvSource("-", io.BytesIO(PEOPLE.encode())) as source:
        facts = scan(tpl, {}, source)
        sent = [b.text for b in batches(tpl, {}, source, facts)]
    assert sent == ["Hi Ana", "Hi Bo"]


def test_endless_stdin_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import attsms.send.csv_source

    monkeypatch.setattr(attsms.send.csv_source, "MAX_STDIN_BYTES", 3 << 20)
    with pytest.raises(UsageError, match="more than 3 MB"):
        CsvSource("-", io.BytesIO(b"y\n" * (2 << 20)))


# --- a missing value stops the job -----------------------------------------------------------


def test_a_column_the_csv_lacks_is_refused_with_a_hint(write: Write) -> None:
    path = write(PEOPLE)
    line = _refused(lambda: _scan(path, "Hi {First_Name}"))
    assert "does not have: {First_Name}" in line and "did you mean {first_name}" in line
    line = _refused(lambda: _scan(path, "Hi {nick}"))
    assert "{nick}" in line and "phone, first_name, time" in line


def test_empty_cells_name_the_first_10_rows_and_the_count(write: Write) -> None:
    rows = "".join(f"21255501{i:02d},,7:30\n" for i in range(12))
    path = write("phone,first_name,time\n2125550199,Ana,\n" + rows)
    line = _refused(lambda: _scan(path, "Hi {first_name} at {time}"))
    assert line.startswith("no value for a template field on 13 rows: line 2 (time), ")
    assert "line 3 (first_name)" in line and "line 11 (first_name)" in line
    assert "line 12 " not in line and ", …" in line
    assert "--default" in line


def test_whitespace_only_is_empty_and_a_default_fills_it(write: Write) -> None:
    path = write("phone,first_name\n2125550100,  \n2125550101,Bo\n")
    _refused(lambda: _scan(path, "Hi {first_name}"))
    texts = _texts(path, "Hi {first_name}", {"first_name": "there"})
    assert texts == {"tel:+12125550100": "Hi there", "tel:+12125550101": "Hi Bo"}


def test_a_default_for_a_missing_column_and_an_unused_default(write: Write) -> None:
    path = write(PEOPLE)
    assert set(_texts(path, "{first_name} {venue}", {"venue": "Lupa"}).values()) == {
        "Ana Lupa",
        "Bo Lupa",
    }
    assert "names no field" in _refused(lambda: _scan(path, "Hi", {"first_nmae": "x"}))


def test_bad_numbers_and_bad_texts_are_reported_together(write: Write) -> None:
    path = write(
        "phone,name\nabc,Ana\n2125550101,Bo\n+442071838750,Cy\n2125550102," + "é" * 2100 + "\n"
    )
    line = _refused(lambda: _scan(path, "Hi {name}"))
    assert "not a phone number on 2 rows: line 2 'abc', line 4 " in line
    assert "a text the service would refuse on 1 row: line 5 (is 4203 bytes" in line


# --- dry-run facts and requests --------------------------------------------------------------


def test_dry_run_facts(write: Write) -> None:
    rows = ["phone,name,note"]
    rows += [f"2125550{i:03d},Ana{i},same" for i in range(120)]  # one shared text
    rows += ["3125550100,Zoë,x", "3125550101,Bo,x", "3125550102,Cy,x" + "y" * 200]
    path = write("\n".join(rows) + "\n")
    facts = _scan(path, "{note} news")
    assert facts.recipients == 123
    # "same news" 120 times: 50 + 50 + 20; "x news" twice: one; the long one: one.
    assert facts.requests == 3 + 1 + 1

    facts = _scan(path, "Hello {name}")
    assert facts.requests == 123  # all different: one request each
    assert [s.text for s in facts.samples] == ["Hello Ana0", "Hello Ana1", "Hello Ana2"]
    assert (facts.segments_min, facts.segments_max, facts.segments_total) == (1, 1, 123)
    assert facts.ucs2_count == 1
    (ucs2,) = facts.ucs2_rows
    assert (ucs2.line, ucs2.address, ucs2.characters) == (122, "tel:+13125550100", ("ë",))


def test_identical_texts_share_requests_of_at_most_50(write: Write) -> None:
    rows = ["phone,group"] + [f"2125550{i:03d},{'a' if i % 2 else 'b'}" for i in range(130)]
    rows += ["3125550100,c"]
    path = write("\n".join(rows) + "\n")
    tpl = parse_template("group {group}")
    with CsvSource(str(path)) as source:
        facts = scan(tpl, {}, source)
        sizes = [(b.text, len(b.recipients)) for b in batches(tpl, {}, source, facts)]
    assert facts.requests == len(sizes) == 2 + 2 + 1
    assert sorted(sizes) == sorted(
        [("group a", 50), ("group a", 15), ("group b", 50), ("group b", 15), ("group c", 1)]
    )


def test_dry_run_summary_and_lines(write: Write) -> None:
    path = write("phone,name\n2125550100,Zoë\n2125550101,Bo\n2125550101,Bo\n,none\n")
    facts = _scan(path, "Hi {name}")
    summary = facts.summary()
    assert summary["requests"] == 2 and summary["duplicates"] == 1
    assert summary["samples"] == [
        {"line": 2, "to": "tel:+12125550100", "text": "Hi Zoë"},
        {"line": 3, "to": "tel:+12125550101", "text": "Hi Bo"},
    ]
    assert summary["ucs2"] == {
        "count": 1,
        "rows": [{"line": 2, "to": "tel:+12125550100", "characters": ["ë"]}],
    }
    lines = facts.lines()
    assert lines[0] == "2 personal texts in 2 requests"
    assert "1 texts fall to UCS-2 (70 characters a segment): line 2 ('ë')" in lines
    assert "shared" not in summary  # internal: what batches() needs


def test_segments_count_long_texts(write: Write) -> None:
    path = write("phone,body\n2125550100,short\n2125550101," + "x" * 300 + "\n")
    facts = _scan(path, "{body}")
    assert (facts.segments_min, facts.segments_max, facts.segments_total) == (1, 2, 3)


def test_the_identity_covers_template_defaults_and_content(write: Write) -> None:
    path = write(PEOPLE)
    base = _scan(path, "Hi {first_name}").digest
    assert _scan(path, "Hi {first_name}").digest == base
    assert _scan(path, "Hey {first_name}").digest != base
    assert _scan(path, "Hi {first_name} {x}", {"x": "1"}).digest != base
    write(PEOPLE.replace("Bo", "Bob"))
    assert _scan(path, "Hi {first_name}").digest != base


def test_a_file_changed_between_scan_and_send_is_refused_after_what_it_held(write: Write) -> None:
    path = write(PEOPLE)
    tpl = parse_template("Hi {first_name}")
    with CsvSource(str(path)) as source:
        facts = scan(tpl, {}, source)
        write(PEOPLE + "2125550109,Cy\n")
        got: list[str] = []
        with pytest.raises(SourceChangedError) as caught:
            for batch in batches(tpl, {}, source, facts):
                got.append(batch.text)
    assert got == ["Hi Ana", "Hi Bo", "Hi Cy"]
    assert caught.value.exit_code == ExitCode.USAGE


def test_2000_rows_each_get_their_own_text(write: Write) -> None:
    rows = [f"21255{i:05d},P{i},{i % 7}:00" for i in range(2000)]
    path = write("phone,first_name,time\n" + "\n".join(rows) + "\n")
    texts = _texts(path, "Hi {first_name}, your table at {time}")
    assert len(texts) == 2000
    assert texts["tel:+12125501999"] == "Hi P1999, your table at 4:00"


def test_template_is_a_frozen_value() -> None:
    tpl = parse_template("a {b}")
    assert isinstance(tpl, Template)
    with pytest.raises(AttributeError):
        tpl.source = "x"  # type: ignore[misc]


# --- against the sandbox ---------------------------------------------------------------------


class _FixedToken:
    def __init__(self, token: str) -> None:
        self.token = token

    def access_token(self, *, stale: str | None = None) -> str:
        return self.token


def test_every_recipient_gets_its_own_rendering_once_in_the_sandbox_outbox(
    write: Write, sandbox_http: Callable[..., SandboxHttp]
) -> None:
    """The parts the send core will call, end to end: scan, batches, one request per batch."""
    from attsms.api.client import AttClient

    server = sandbox_http()
    # 2,000 rows, 3 columns; one row in six has no name and the same time, so one shared text.
    rows = [
        f"21255{i:05d},,7:00" if i % 6 == 0 else f"21255{i:05d},P{i},{i % 12}:30"
        for i in range(2000)
    ]
    path = write("phone,first_name,time\n" + "\n".join(rows) + "\n")
    tpl = parse_template("Hi {first_name}, your table at {time}")
    expected: dict[str, str] = {}
    with CsvSource(str(path)) as source:
        facts = scan(tpl, {"first_name": "there"}, source)
        with AttClient(server.url) as bootstrap:
            token = bootstrap.fetch_token(server.config.client_id, server.config.client_secret)
        with AttClient(server.url, tokens=_FixedToken(token.access_token)) as client:
            for batch in batches(tpl, {"first_name": "there"}, source, facts):
                client.send(batch.addresses, batch.text)
                expected.update((a, batch.text) for a in batch.addresses)
    outbox = server.admin("GET", "/sandbox/outbox")["outbox"]
    got = {e["address"]: e["message"] for e in outbox}
    assert len(outbox) == len(got) == 2000  # each recipient exactly once
    for i in range(2000):
        text = (
            "Hi there, your table at 7:00" if i % 6 == 0 else f"Hi P{i}, your table at {i % 12}:30"
        )
        assert got[f"tel:+121255{i:05d}"] == text
    assert got == expected
    shared = len(range(0, 2000, 6))  # 334: 6 requests of 50 and one of 34
    assert server.stats()["send_requests"] == facts.requests == 2000 - shared + 7


def test_texts_whose_keys_collide_are_never_sent_as_one(
    write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Texts are counted by a 64-bit digest; were two to share one, each recipient must still get
    # their own text. Here every text shares one key.
    import attsms.send.personal

    monkeypatch.setattr(attsms.send.personal, "_key_of", lambda data: 7)
    rows = "".join(f"+1212555{i:04d},{'Ann' if i % 3 else f'Bo{i}'}\n" for i in range(120))
    path = write("phone,name\n" + rows)
    got = _texts(path, "Hi {name}")
    assert len(got) == 120
    for i in range(120):
        assert got[f"tel:+1212555{i:04d}"] == ("Hi Ann" if i % 3 else f"Hi Bo{i}")


# --- the CSV read once for a send --------------------------------------------------------------


def _rendered(
    tpl: Template, source: CsvSource, facts: Facts, defaults: dict[str, str] | None = None
) -> list[tuple[str, list[str]]]:
    return [(b.text, b.addresses) for b in batches(tpl, defaults or {}, source, facts)]


def test_a_spilled_scan_cuts_the_same_batches_as_reading_the_csv_again(write: Write) -> None:
    # Shared texts (three times 70 recipients), repeats and a text of its own per row.
    rows = [f"21255{i:05d},{'' if i % 3 else f'P{i}'}" for i in range(210)]
    path = write("phone,first_name\n" + "\n".join(rows + rows[:5]) + "\n")
    tpl, there = parse_template("Hi {first_name}"), {"first_name": "there"}
    with CsvSource(str(path)) as source:
        again = _rendered(tpl, source, scan(tpl, there, source), there)
    with CsvSource(str(path)) as source:
        facts = scan(tpl, there, source, spill=True)
        assert facts.spilled is not None
        spilled = _rendered(tpl, source, facts, there)
    assert spilled == again
    assert len(spilled) == facts.requests


def test_a_spilled_scan_sends_what_it_checked_without_reading_the_file_again(
    write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    from attsms.send import csv_source, personal
    from attsms.send.input import SendRequest

    opened: list[object] = []
    table = csv_source.CsvTable

    def counting(source: CsvSource) -> object:
        opened.append(source)
        return table(source)

    monkeypatch.setattr(personal, "CsvTable", counting)
    path = write(PEOPLE)
    request = SendRequest(to_file=str(path), message="Hi {first_name}", template=True)
    facts, plan = personal.read_template_send(
        request, region="US", stdin=io.StringIO(), planned=True
    )
    assert len(opened) == 1  # checked and planned from one read
    assert plan is not None and list(plan.texts or ()) == ["Hi Ana", "Hi Bo"]
    write(PEOPLE + "2125550109,Cy\n")  # changed after the check: what was checked is sent
    with CsvSource(str(path)) as source:
        assert [t for t, _ in _rendered(parse_template("Hi {first_name}"), source, facts)] == [
            "Hi Ana",
            "Hi Bo",
        ]
