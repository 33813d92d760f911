"""`IntSet` (the compact set a template send dedupes with) and the spilled plan of personal texts
behave exactly as a set and a list would."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from attsms.core.intset import IntSet
from attsms.send.plan import personal_plan

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1).filter(bool)


@given(st.lists(INT64, max_size=3000), st.lists(INT64, max_size=50))
def test_an_intset_answers_as_a_set(added: list[int], probes: list[int]) -> None:
    ours, theirs = IntSet(), set()
    for value in added:
        assert ours.add(value) == (value not in theirs)  # True only the first time
        theirs.add(value)
    assert len(ours) == len(theirs)
    for value in [*added, *probes]:
        assert (value in ours) == (value in theirs)


def test_an_intset_holds_a_million_phone_numbers_in_16_mb() -> None:
    numbers = IntSet()
    for i in range(1_000_000):
        numbers.add(12122000000 + i)
    assert len(numbers) == 1_000_000
    assert 12122999999 in numbers and 12123000000 not in numbers
    assert numbers._slots.itemsize * len(numbers._slots) <= 16 * 2**20


ADDRESS = st.one_of(
    st.integers(min_value=2002000000, max_value=9899999999).map(lambda n: f"tel:+1{n}"),
    st.from_regex(r"[0-9]{3,8}", fullmatch=True).map(lambda d: f"short:{d}"),
)


@given(
    st.lists(
        st.tuples(
            st.text(min_size=1, max_size=60),
            st.lists(ADDRESS, min_size=1, max_size=50, unique=True),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_a_spilled_plan_reads_back_every_batch_as_written(
    batches: list[tuple[str, list[str]]],
) -> None:
    plan = personal_plan(iter(batches), identity="job")
    assert len(plan.batches) == len(batches)
    assert list(plan.addresses) == [a for _, addresses in batches for a in addresses]
    for number, (text, addresses) in enumerate(batches):  # by number, in any order
        assert plan.batches[number] == tuple(addresses)
        assert plan.text_for(number) == text
    assert [plan.text_for(n) for n in reversed(range(len(batches)))] == [
        t for t, _ in reversed(batches)
    ]
    assert plan.batches[-1] == tuple(batches[-1][1])


@given(st.lists(st.one_of(INT64, st.just(12125550100)), max_size=300))
def test_codes_sorted_in_runs_and_merged_are_sorted(codes: list[int]) -> None:
    # A keyed job sorts its recipients in runs merged into an array (no list of a million ints);
    # runs of 4 here, so that small lists take the merging path too.
    from array import array

    import attsms.send.plan as sending

    saved = sending._SORT_RUN
    sending._SORT_RUN = 4
    try:
        assert list(sending._sorted_codes(array("q", codes))) == sorted(codes)
    finally:
        sending._SORT_RUN = saved
