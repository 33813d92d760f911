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
        self._bits = 10
        self._slots = array("q", bytes(8 << self._bits))
        self._count = 0

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
        mask = len(slots) - 1
        index = ((value * _GOLDEN) & _MASK64) >> (64 - self._bits)
        while (found := slots[index]) != 0:
            if found == value:
                return False
            index = (index + 1) & mask
        slots[index] = value
        self._count += 1
        if 2 * self._count > len(self._slots):
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
        self._bits += 1
        slots = array("q", bytes(8 << self._bits))
        mask, shift = len(slots) - 1, 64 - self._bits
        for value in old:  # `add` inlined: growing re-places every entry
            if value:
                index = ((value * _GOLDEN) & _MASK64) >> shift
                while slots[index]:
                    index = (index + 1) & mask
                slots[index] = value
        self._slots = slots
