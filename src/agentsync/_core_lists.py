"""Sequence fields: fractional positions for list elements (`_position`, unique to a write
by `_position_suffix`) and the element diff a list write keeps elements by (`_matching`).

Contract: positions compare as strings, and a position made between two others sorts
strictly between them.
"""

from __future__ import annotations

import difflib
from typing import Any, Final

from ._core_keys import _Entry
from ._errors import CorruptUpdateError

_PLAIN: Final = frozenset({str, int, bool, type(None)})  # JSON scalars, given valid text


def _plain_element(x: Any) -> bool:
    """A list element no check can refuse: an int, bool, None or ASCII string (other text
    goes through `validate_value`, which refuses lone surrogates)."""
    t = type(x)
    return t is int or t is bool or x is None or (t is str and x.isascii())


_DIGITS: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


_FIRST_POSITION: Final = "a0"


_SMALLEST_INTEGER: Final = "A" + "0" * 26


def _between(lower: str, upper: str | None) -> str:
    """A position strictly between `lower` and `upper` ("": no lower bound, None: no
    upper bound); positions compare as strings.

    Fractional indexing with a variable-length integer part (David Greenspan's scheme):
    appending increments the integer part, so n appends make positions of O(log n)
    characters (a fractional digit per append made them O(n), and a big list's first
    write quadratic). Inserting between two neighbours extends the fractional part.
    Equal bounds (two concurrent inserts at one spot) give a position just after `lower`.
    """
    if not lower:
        if upper is None:
            return _FIRST_POSITION
        integer = upper[: _integer_length(upper[0])]
        if integer == _SMALLEST_INTEGER:
            return integer + _midpoint("", upper[len(integer) :])
        if integer < upper:
            return integer
        smaller = _decrement_integer(integer)
        return smaller if smaller is not None else integer + _midpoint("", upper[len(integer) :])
    integer = lower[: _integer_length(lower[0])]
    fraction = lower[len(integer) :]
    if upper is not None and upper > lower:
        upper_integer = upper[: _integer_length(upper[0])]
        if upper_integer == integer:
            return integer + _midpoint(fraction, upper[len(integer) :])
        larger = _increment_integer(integer)
        if larger is not None and larger < upper:
            return larger
        return integer + _midpoint(fraction, None)
    if upper is None:
        larger = _increment_integer(integer)
        if larger is not None:
            return larger
    return integer + _midpoint(fraction, None)


def _position(lower: str, upper: str | None, suffix: str) -> str:
    """A position between `lower` and `upper` that ends in `suffix` (`_position_suffix`):
    one from `_between`, moved closer to `upper` while `upper` starts with it (appending
    the suffix to a prefix of `upper` could pass it)."""
    pos = _between(lower, upper)
    while upper is not None and not pos + suffix < upper and pos < upper:
        pos = _between(pos, upper)
    return pos + suffix


def _positions(lower: str, upper: str | None, count: int, suffix: str) -> list[str]:
    """`count` positions in order between `lower` and `upper`, each ending in `suffix`.

    Appended ones (no upper bound) follow one another, each an integer step. Between two
    bounds they are placed by halving: the middle one first, then each half between it
    and a bound, so their length grows with log(count) (each next one between the last
    and `upper` grew a digit every few elements: 5,000 inserted between two neighbours
    took quadratic time and bytes)."""
    out: list[str] = []
    if upper is None:
        for _ in range(count):
            lower = _position(lower, None, suffix)
            out.append(lower)
    else:
        _halving(lower, upper, count, suffix, out)
    return out


def _halving(lower: str, upper: str, count: int, suffix: str, out: list[str]) -> None:
    if count <= 0:
        return
    before = count // 2
    middle = _position(lower, upper, suffix)
    _halving(lower, middle, before, suffix, out)
    out.append(middle)
    _halving(middle, upper, count - before - 1, suffix, out)


_PEER_DIGITS: Final[dict[str, str]] = {}  # a peer id -> its digits in a suffix


def _position_suffix(op: str) -> str:
    """Digits unique to a write (its peer, then its counter) that end every position it
    makes; never a "0" (a fraction must not end in one), so each stays a valid fraction
    for positions made between it and its neighbours later."""
    peer, _, counter = op.partition(":")
    peer_digits = _PEER_DIGITS.get(peer)
    if peer_digits is None:
        # (a replica writes as its own peer and a few edit peers: parsing a 20-digit peer
        # on every list write was a twelfth of a put)
        if len(_PEER_DIGITS) >= 1024:
            _PEER_DIGITS.clear()
        peer_digits = _PEER_DIGITS[peer] = _base61(int(peer) % 61**4, 4)
    counter_digits = _base61(int(counter), 1)
    return _DIGITS[len(counter_digits)] + peer_digits + counter_digits


def _base61(number: int, width: int) -> str:
    """`number` in base 61 with digits "1".."z" (no "0"), at least `width` of them."""
    text = ""
    while number or len(text) < width:
        number, digit = divmod(number, 61)
        text = _DIGITS[digit + 1] + text
    return text


def _integer_length(head: str) -> int:
    if "a" <= head <= "z":
        return ord(head) - ord("a") + 2
    if "A" <= head <= "Z":
        return ord("Z") - ord(head) + 2
    raise CorruptUpdateError(f"not a list position head {head!r}")


def _increment_integer(integer: str) -> str | None:
    last = integer[-1]
    if last != "z" and len(integer) > 1:  # the common case: one digit up, no carry
        return integer[:-1] + _DIGITS[_DIGITS.index(last) + 1]
    head, digits = integer[0], list(integer[1:])
    for i in range(len(digits) - 1, -1, -1):
        d = _DIGITS.index(digits[i]) + 1
        if d < len(_DIGITS):
            digits[i] = _DIGITS[d]
            return head + "".join(digits)
        digits[i] = "0"
    if head == "Z":
        return "a0"
    if head == "z":
        return None  # the largest integer: callers extend the fraction instead
    head = chr(ord(head) + 1)
    if head > "a":
        digits.append("0")
    else:
        digits.pop()
    return head + "".join(digits)


def _decrement_integer(integer: str) -> str | None:
    head, digits = integer[0], list(integer[1:])
    for i in range(len(digits) - 1, -1, -1):
        d = _DIGITS.index(digits[i]) - 1
        if d >= 0:
            digits[i] = _DIGITS[d]
            return head + "".join(digits)
        digits[i] = _DIGITS[-1]
    if head == "a":
        return "Z" + _DIGITS[-1]
    if head == "A":
        return None
    head = chr(ord(head) - 1)
    if head < "Z":
        digits.append(_DIGITS[-1])
    else:
        digits.pop()
    return head + "".join(digits)


def _midpoint(a: str, b: str | None) -> str:
    """A fraction strictly between fractions `a` and `b` (None: 1)."""
    if b is not None:
        n = 0
        while n < len(b) and (a[n] if n < len(a) else _DIGITS[0]) == b[n]:
            n += 1
        if n > 0:
            return b[:n] + _midpoint(a[n:], b[n:])
    digit_a = _DIGITS.index(a[0]) if a else 0
    digit_b = _DIGITS.index(b[0]) if b else len(_DIGITS)
    if digit_b - digit_a > 1:
        return _DIGITS[(digit_a + digit_b + 1) // 2]
    if b is not None and len(b) > 1:
        return b[:1]
    return _DIGITS[digit_a] + _midpoint(a[1:], None)


def _matching(sequence: list[_Entry], wanted: list[str]) -> dict[int, _Entry]:
    """Which element of `sequence` each index of `wanted` keeps (an element diff).

    The common prefix and suffix are matched directly, so an append, a prepend or one
    edit costs O(n); only the changed middle goes to difflib (quadratic at worst)."""
    kept_at: dict[int, _Entry] = {}
    n_old, n_new = len(sequence), len(wanted)
    prefix = 0
    while prefix < n_old and prefix < n_new and sequence[prefix].elem == wanted[prefix]:
        kept_at[prefix] = sequence[prefix]
        prefix += 1
    suffix = 0
    while (
        suffix < n_old - prefix
        and suffix < n_new - prefix
        and sequence[n_old - 1 - suffix].elem == wanted[n_new - 1 - suffix]
    ):
        kept_at[n_new - 1 - suffix] = sequence[n_old - 1 - suffix]
        suffix += 1
    middle_old = [e.elem for e in sequence[prefix : n_old - suffix]]
    middle_new = wanted[prefix : n_new - suffix]
    # difflib only if an element of the changed middle can be kept at all (a replaced
    # element, the common edit, is not worth its interpreted matching)
    if middle_old and middle_new and not set(middle_old).isdisjoint(middle_new):
        matcher = difflib.SequenceMatcher(None, middle_old, middle_new, autojunk=False)
        for block in matcher.get_matching_blocks():
            for k in range(block.size):
                kept_at[prefix + block.b + k] = sequence[prefix + block.a + k]
    return kept_at
