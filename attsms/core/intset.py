"""`IntSet`: an exact set of nonzero int64s at ~16 bytes an entry.

A `set` of Python ints costs ~60 bytes an entry (the int object and the slot): a million rows
of a CSV would need 60 MB just to know which numbers came before. Here the entries live in one
open-addressing table, an `array('q')` kept at most half full, 0 marking an empty slot.
"""

from __future__ import annotations

from array import array

_MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15  # Fibonacci hashing: spreads consecutive numbers over the table


class IntSet:
    """Exact membership of nonzero integers in [-2**63, 2**63); adding is the only change."""

    def __init__(self) -> None:
        self._count = 0
        self._size(10)

    def _size(self, bits: int) -> None:
        """An empty table of 2**bits slots, and what `add` derives from its size (kept, not
        worked out again each time: `add` is asked once a row of a million-row file)."""
        self._bits = bits
        self._slots = array("q", bytes(8 << bits))
        self._mask = len(self._slots) - 1
        self._shift = 64 - bits
        self._limit = len(self._slots) // 2  # kept at most half full

    def __len__(self) -> int:
        return self._count

    def __contains__(self, value: object) -> bool:
        if not isinstance(value, int) or value == 0:
            return False
        return self._slots[self._slot(value)] == value

    def add(self, value: int) -> bool:
        """Add `value`; True if it was not there yet."""
        if value == 0:
            raise ValueError("IntSet cannot hold 0 (it marks an empty slot)")
        slots = self._slots  # `_slot` inlined: asked once a row of a million-row file
        index = ((value * _GOLDEN) & _MASK64) >> self._shift
        while (found := slots[index]) != 0:
            if found == value:
                return False
            index = (index + 1) & self._mask
        slots[index] = value
        self._count += 1
        if self._count > self._limit:
            self._grow()
        return True

    def _slot(self, value: int) -> int:
        """Where `value` is, or the empty slot where it would go (linear probing)."""
        slots = self._slots
        mask = len(slots) - 1
        index = self._home(value)
        while True:
            found = slots[index]
            if found == value or found == 0:
                return index
            index = (index + 1) & mask

    def _home(self, value: int) -> int:
        return ((value * _GOLDEN) & _MASK64) >> (64 - self._bits)

    def _grow(self) -> None:
        old = self._slots
        self._size(self._bits + 1)
        slots, mask, shift = self._slots, self._mask, self._shift
        for value in old:  # `add` inlined: growing re-places every entry
            if value:
                index = ((value * _GOLDEN) & _MASK64) >> shift
                while slots[index]:
                    index = (index + 1) & mask
                slots[index] = value
