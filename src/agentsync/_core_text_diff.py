"""The edit that turns one text into another: `word_edits`.

Contract: applying the edits to the old text gives the new text exactly. The words (and
runs of whitespace) that changed are found first, as a diff of the two texts' words; each
run of changed words is then one contiguous replacement, less the characters it begins
and ends with unchanged. Within a word, letters a rewrite shares with the old word are
kept only at its ends, never in its middle (a character diff kept the "0" of "B0" ->
"W0T0", and a concurrent insertion landed in "W0T|0"). The cost is linear in the texts
plus the square of the number of changed words, which is bounded: past `_MOST_EDITS` the
changed middle is replaced as one run (a rewrite; Loro's character diff took O(N*D)).
"""

from __future__ import annotations

from typing import Final

# words inserted or deleted (Myers' D) searched for before the middle is replaced whole
_MOST_EDITS: Final = 256

# an edit: old[start:end] becomes `text` (offsets in characters of the old text)
Edit = tuple[int, int, str]


def word_edits(old: str, new: str) -> list[Edit]:
    """The edits that turn `old` into `new`, in order and disjoint: one per run of
    changed tokens (words or runs of whitespace), trimmed of unchanged ends."""
    if old == new:
        return []
    n_old, n_new = len(old), len(new)
    prefix, suffix = common_ends(old, new)
    # only the tokens between the unchanged ends are diffed: back to a token boundary of
    # both texts (one strictly inside a common end is the same in both)
    start = prefix
    if not (_at_word_boundary(old, start) and _at_word_boundary(new, start)):
        start -= 1
        while not _at_word_boundary(old, start):
            start -= 1
    tail = suffix
    if not (_at_word_boundary(old, n_old - tail) and _at_word_boundary(new, n_new - tail)):
        tail -= 1
        while not _at_word_boundary(old, n_old - tail):
            tail -= 1
    a = _tokens(old, start, n_old - tail)
    b = _tokens(new, start, n_new - tail)
    pairs = _matching_tokens(a, b, _MOST_EDITS)
    # character offsets of each old token's start (and the changed middle's end)
    n = len(a)
    starts = [0] * (n + 1)
    at = start
    for i in range(n):
        starts[i] = at
        at += len(a[i])
    starts[n] = at
    edits: list[Edit] = []
    x = y = 0
    for mx, my in [*pairs, (n, len(b))]:
        if mx > x or my > y:
            edits.append(_trimmed(old, starts[x], starts[mx], "".join(b[y:my])))
        x, y = mx + 1, my + 1
    return edits


def _tokens(s: str, start: int, end: int) -> list[str]:
    """The words and runs of whitespace of s[start:end] (a loop: a regex's findall cost
    more than the rest of the diff of a short text)."""
    out = []
    i = start
    while i < end:
        space = s[i].isspace()
        j = i + 1
        while j < end and s[j].isspace() == space:
            j += 1
        out.append(s[i:j])
        i = j
    return out


def common_ends(old: str, new: str, *, overlapping: bool = False) -> tuple[int, int]:
    """How many characters both texts begin with, and end with: the end counted within
    what the beginning leaves, unless `overlapping` (then the two may share characters,
    which is where a pure insertion or deletion could equally go)."""
    n_old, n_new = len(old), len(new)
    limit = min(n_old, n_new)
    prefix = 0
    while prefix < limit and old[prefix] == new[prefix]:
        prefix += 1
    suffix = 0
    suffix_limit = limit if overlapping else limit - prefix
    while suffix < suffix_limit and old[n_old - 1 - suffix] == new[n_new - 1 - suffix]:
        suffix += 1
    return prefix, suffix


def _at_word_boundary(s: str, i: int) -> bool:
    """Whether a token (a word or a run of whitespace) of `s` starts or ends at `i`."""
    return i <= 0 or i >= len(s) or s[i - 1].isspace() != s[i].isspace()


def _trimmed(old: str, start: int, end: int, text: str) -> Edit:
    """old[start:end] -> text without the characters both begin or end with."""
    prefix, suffix = common_ends(old[start:end], text)
    return start + prefix, end - suffix, text[prefix : len(text) - suffix]


def _matching_tokens(a: list[str], b: list[str], limit: int) -> list[tuple[int, int]]:
    """The (i, j) pairs of a shortest edit script's common tokens (Myers' O((N+M)D)
    greedy search); none when more than `limit` tokens must be inserted or deleted."""
    n, m = len(a), len(b)
    if not n or not m:
        return []
    most = min(n + m, limit)
    offset = most + 1
    v = [0] * (2 * most + 3)
    trace: list[list[int]] = []
    for d in range(most + 1):
        trace.append(v[:])
        for k in range(-d, d + 1, 2):
            if k == -d or (k != d and v[offset + k - 1] < v[offset + k + 1]):
                x = v[offset + k + 1]
            else:
                x = v[offset + k - 1] + 1
            y = x - k
            while x < n and y < m and a[x] == b[y]:
                x += 1
                y += 1
            v[offset + k] = x
            if x >= n and y >= m:
                return _backtrack(trace, n, m, offset)
    return []


def _backtrack(trace: list[list[int]], n: int, m: int, offset: int) -> list[tuple[int, int]]:
    pairs: list[tuple[int, int]] = []
    x, y = n, m
    for d in range(len(trace) - 1, -1, -1):
        v = trace[d]
        k = x - y
        if d == 0:
            previous_x = previous_y = 0
        else:
            if k == -d or (k != d and v[offset + k - 1] < v[offset + k + 1]):
                previous_k = k + 1
            else:
                previous_k = k - 1
            previous_x = v[offset + previous_k]
            previous_y = previous_x - previous_k
        while x > previous_x and y > previous_y:
            x -= 1
            y -= 1
            pairs.append((x, y))
        x, y = previous_x, previous_y
    pairs.reverse()
    return pairs
