"""Properties of address checks and the message budget, on a bare core (fast enough for hypothesis).

The reference here is the rule as docs/sandbox.md states it, written independently of the code.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from attsms.sandbox import SandboxConfig
from attsms.sandbox.addresses import final_outcome, normalize, normalize_sender
from attsms.sandbox.core import Sandbox
from tests.helpers.sandbox_harness import core_send, core_token, error_of, memory

REFERENCE = re.compile(r"tel:(\+1|1)?[2-9][0-9]{2}[2-9][0-9]{6}|short:[0-9]{3,8}")

digit = st.sampled_from("0123456789")
lead = st.sampled_from("23456789")
national = st.builds(
    lambda a, b, c, d: a + b + c + d,
    lead,
    st.text(digit, min_size=2, max_size=2),
    lead,
    st.text(digit, min_size=6, max_size=6),
)
tel_prefix = st.sampled_from(["tel:+1", "tel:1", "tel:"])


def codes(text: str) -> list[str]:
    return re.findall(r"[0-9]{3}", text)


# +1 area codes that are not the US or a US territory, as docs/sandbox.md lists them: the sandbox
# refuses to send to them. Written here again, by hand, so that a slip in the code's table shows.
NOT_US = frozenset(
    codes(
        # Canada, geographic (overlays included) and set aside for relief
        "204 226 236 249 250 257 263 273 289 306 343 354 365 367 368 382 387 403 416 418 428 431"
        " 437"
        " 438 450 460 468 474 506 514 519 548 579 581 584 587 604 613 639 647 672 683 705 709"
        " 742 753 778 780 782 807 819 825 867 873 879 902 905 942"
        # Canada, non-geographic
        " 600 622 633 644 655 677 688"
        # The Caribbean and Atlantic countries on +1
        " 242 246 264 268 284 345 441 473 649 658 664 721 758 767 784 809 829 849 868 869 876"
    )
)
# US territories, and codes of no one country (toll-free, the 555 test range): deliverable.
US_SAMPLE = codes(
    "201 202 212 213 305 312 415 503 617 702 808 907 787 939 340 671 684 670"
    " 800 833 844 855 866 877 888 555 500 900"
)

us_national = national.filter(lambda n: n[:3] not in NOT_US)
not_us_national = st.builds(
    lambda area, rest: area + rest,
    st.sampled_from(sorted(NOT_US)),
    st.builds(lambda a, b: a + b, lead, st.text(digit, min_size=6, max_size=6)),
)


def fresh() -> tuple[Sandbox, str]:
    sandbox = Sandbox(SandboxConfig(seed=1))
    return sandbox, core_token(sandbox)


@given(prefix=tel_prefix, number=us_national)
def test_every_tel_form_is_accepted_and_made_canonical(prefix: str, number: str) -> None:
    assert normalize(prefix + number) == f"tel:+1{number}"
    sandbox, token = fresh()
    assert core_send(sandbox, token, [prefix + number], "hi").status == 201
    assert memory(sandbox).stats["delivered_to"] == {f"tel:+1{number}": 1}


@given(prefix=tel_prefix, number=not_us_national)
@example(prefix="tel:+1", number="4165550100")
@example(prefix="tel:", number="8765550100")
def test_every_number_outside_the_us_is_refused(prefix: str, number: str) -> None:
    address = prefix + number
    assert normalize(address) is None
    sandbox, token = fresh()
    resp = core_send(sandbox, token, [address], "hi")
    assert resp.status == 400
    assert error_of(resp)[1:] == (
        "SVC0004",
        "No valid addresses provided in message part %1",
        "address",
    )
    resp = core_send(sandbox, token, ["tel:+12125551234", address, "short:12345"], "hi")
    assert error_of(resp)[1:] == ("SVC0002", "Invalid input value for message part %1", address)
    assert memory(sandbox).messages == {}
    assert memory(sandbox).outbox == []
    assert memory(sandbox).stats["delivered_to"] == {}


@pytest.mark.parametrize("area", sorted(NOT_US))
def test_each_area_code_outside_the_us_is_refused(area: str) -> None:
    assert normalize(f"tel:+1{area}5550100") is None


@pytest.mark.parametrize("area", US_SAMPLE)
def test_us_and_territory_area_codes_are_accepted(area: str) -> None:
    assert normalize(f"tel:{area}5550100") == f"tel:+1{area}5550100"


def test_the_code_table_is_the_documented_one() -> None:
    from attsms.sandbox.addresses import NOT_US_AREA_CODES

    assert set(NOT_US_AREA_CODES) == NOT_US
    assert NOT_US_AREA_CODES["416"] == "Canada"
    assert NOT_US_AREA_CODES["876"] == NOT_US_AREA_CODES["658"] == "Jamaica"
    assert not NOT_US & set(US_SAMPLE)


@given(code=st.text(digit, min_size=3, max_size=8))
@example(code="416")  # short codes have no area code, whatever their first digits
@example(code="87612")
def test_short_codes_of_3_to_8_digits_are_accepted(code: str) -> None:
    assert normalize(f"short:{code}") == f"short:{code}"
    assert final_outcome(f"short:{code}") == "DeliveredToNetwork"


@given(st.text(max_size=30))
def test_anything_that_is_not_an_address_is_refused(text: str) -> None:
    if REFERENCE.fullmatch(text):
        return
    assert normalize(text) is None
    sandbox, token = fresh()
    resp = core_send(sandbox, token, [text], "hi")
    assert resp.status == 400
    assert error_of(resp)[1] == "SVC0004"  # the only address, and invalid
    resp = core_send(sandbox, token, ["short:12345", text], "hi")
    assert error_of(resp)[1:] == ("SVC0002", "Invalid input value for message part %1", text)
    assert memory(sandbox).messages == {}


near_misses = st.one_of(
    st.builds(lambda p, n: p + n, tel_prefix, st.text(digit, min_size=1, max_size=9)),
    st.builds(lambda p, n: p + n, tel_prefix, st.text(digit, min_size=12, max_size=15)),
    st.builds(lambda d, n: f"tel:+1{d}{n[1:]}", st.sampled_from("01"), national),  # area 0/1
    st.builds(lambda d, n: f"tel:+1{n[:3]}{d}{n[4:]}", st.sampled_from("01"), national),
    st.builds(lambda n: f"+1{n}", national),  # no tel:
    st.builds(lambda n: f"TEL:+1{n}", national),
    st.builds(lambda n: f"tel:+1 {n}", national),
    st.builds(lambda n: f"tel:+1{n}".replace("5", "٥"), national.filter(lambda n: "5" in n)),
    st.builds(lambda n: f"short:{n}", st.text(digit, min_size=0, max_size=2)),
    st.builds(lambda n: f"short:{n}", st.text(digit, min_size=9, max_size=12)),
)


@given(near_misses)
def test_near_misses_are_refused(text: str) -> None:
    assert not REFERENCE.fullmatch(text)
    assert normalize(text) is None


@given(st.text(st.sampled_from(["a", "é", "☃", "😀"]), min_size=1, max_size=2100))
@example("x" * 4096)
@example("x" * 4097)
@example("😀" * 1024)
@example("😀" * 1023 + "é" * 2)
def test_the_message_budget_is_4096_utf8_bytes(text: str) -> None:
    # 1- to 4-byte characters, so texts land on both sides of the budget.
    sandbox, token = fresh()
    resp = core_send(sandbox, token, "short:12345", text)
    if len(text.encode("utf-8")) <= 4096:
        assert resp.status == 201
        assert next(iter(memory(sandbox).messages.values()))["message"] == text
    else:
        assert error_of(resp)[1:] == ("SVC0280", "Message too long. Allowed length is %1", "4096")


@given(number=national)
def test_outcome_follows_the_last_four_digits(number: str) -> None:
    expected = {
        "09": "DeliveryImpossible",
        "08": "DeliveredToNetwork",
        "07": "MessageWaiting",
        "06": "DeliveryUncertain",
    }.get(number[-4:-2], "DeliveredToTerminal")
    assert final_outcome(f"tel:+1{number}") == expected


@pytest.mark.parametrize(
    ("sender", "expected"),
    [
        ("+12125551234", "tel:+12125551234"),
        ("2125551234", "tel:+12125551234"),
        ("tel:12125551234", "tel:+12125551234"),
        # Anyone can text in: senders outside the US are taken as they are.
        ("+14165550100", "tel:+14165550100"),
        ("tel:8765550100", "tel:+18765550100"),
        ("short:12345", None),  # short codes receive; they do not send to short codes
        ("12345", None),
        ("", None),
    ],
)
def test_sender_forms(sender: str, expected: str | None) -> None:
    assert normalize_sender(sender) == expected


def test_config_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="invalid sandbox setting: inbox_batch_size, fail_rate"):
        SandboxConfig(fail_rate=2, inbox_batch_size=0)
