"""Sequence motifs (PROSITE patterns and a regular-expression subset) over a sequence store.

Semantics: every (entry, start, end) whose substring matches the *whole* pattern is one match;
overlapping and variable-length matches are all reported (``C-x(2,4)-C`` gives one row per
valid end), the empty match never. Positions are 1-based and inclusive in the results.

**PROSITE syntax** (as in the PROSITE user manual, section IV.E "pattern"): elements joined by
``-``; an element is ``x`` (any residue), a residue letter, ``[ABC]`` (any of), ``{ABC}`` (none
of), optionally followed by a repeat ``(n)`` or ``(n,m)``; ``<`` before the first element
anchors the pattern at the N-terminus, ``>`` after the last one at the C-terminus, and ``>``
inside the brackets of the last element (``[G>]``) means "that residue, or the C-terminus".
A trailing period is optional; white space is ignored; letters are case-insensitive except
that ``x`` is the wildcard. Residue letters: the 20 amino acids and ``BZJUOX``.

**Regular-expression subset** (``syntax="regex"``): residue letters, ``.``, ``[ABC]``,
``[^ABC]``, the quantifiers ``?``, ``*``, ``+``, ``{n}``, ``{n,}``, ``{n,m}``, a leading
``^`` and a trailing ``$``. No alternation, groups or back-references (a pattern is a chain of
residue classes with repeat ranges, like PROSITE).

Both compile to the same chain of elements: a 256-entry allowed-byte table per element with a
minimum and maximum repeat (:class:`Motif`). The numba kernel (parallel over chunks of
entries) walks every entry once. Each unanchored pattern is cut at its variable repeats into
segments of elements at fixed offsets from each other, and the most selective segment (by
Swiss-Prot's composition, times the starts one placement implies) is its filter: a
per-residue list of patterns holds the residues allowed at the segment's rarest position; a
placement is checked against the segment's other positions (bit masks); a fixed-length
pattern covered by its segment is then a match, otherwise each start the placement implies is
expanded once by a set-based simulation of the element chain that emits every reachable end
once. Patterns anchored at the N-terminus are tried at start 0 only, patterns anchored at
the C-terminus only at the starts their length range allows. Rows are sorted by pattern with
a parallel stable counting sort.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numba
import numpy as np
import pyarrow as pa

from kb.alphabet import SEQUENCE_LETTERS
from kb.errors import KBError
from kb.seqstore import SequenceStore

__all__ = [
    "SYNTAXES",
    "Motif",
    "MotifSyntaxError",
    "compile_motif",
    "compile_motifs",
    "find_motifs",
    "motif_table",
    "motifs_in_fasta",
    "read_patterns",
    "MOTIF_COLUMNS",
]

#: Columns of a motif search (``entry_id`` follows when searching a knowledge base).
MOTIF_COLUMNS = ("motif", "accession", "start", "end", "match")

#: Accepted ``syntax`` values.
SYNTAXES = ("prosite", "regex")
_UNBOUNDED = 1 << 30
#: Residues at fixed offsets checked (rarest first) before a start is expanded (or, for a
#: fixed-length pattern, reported).
_MAX_FILTERS = 48
#: Widest range of starts one placement of a pattern's filter segment may imply.
_MAX_WINDOW = 64
#: Cost of expanding one start relative to checking one residue (picks the filter segment).
_EXPAND_COST = 20.0
_LETTERS = "".join(sorted(SEQUENCE_LETTERS))
#: Byte -> bit of the filter masks: ``A``..``Z`` -> 1..26, anything else 31 (never allowed).
_CODE = np.full(256, 31, dtype=np.uint32)
_CODE[ord("A"):ord("Z") + 1] = np.arange(1, 27)
#: Swiss-Prot composition (percent, release statistics): picks each pattern's rarest element.
_COMPOSITION = {
    "A": 8.25, "R": 5.53, "N": 4.06, "D": 5.45, "C": 1.37, "Q": 3.93, "E": 6.75,
    "G": 7.07, "H": 2.27, "I": 5.96, "L": 9.66, "K": 5.84, "M": 2.42, "F": 3.86,
    "P": 4.70, "S": 6.56, "T": 5.34, "W": 1.08, "Y": 2.92, "V": 6.87,
}  # fmt: skip


class MotifSyntaxError(KBError):
    """A pattern that cannot be parsed; names the pattern and the 1-based offending position."""

    def __init__(self, pattern: str, position: int, reason: str):
        self.pattern = pattern
        self.position = position
        super().__init__(f"bad pattern {pattern!r} at position {position}: {reason}")


@dataclass(frozen=True)
class Motif:
    """A compiled pattern: a chain of residue classes with repeat ranges.

    Attributes:
        text: the pattern as given.
        allowed: ``bool`` array ``(n_elements, 256)``: the bytes each element accepts.
        min_repeat, max_repeat: ``int64`` repeat range of each element (``max`` may be
            unbounded: ``2**30``).
        anchor_start: matches must start at the first residue.
        anchor_end: matches must end at the last residue.
        end_alternative: the last element may instead match the C-terminus (``[G>]``).
    """

    text: str
    allowed: np.ndarray
    min_repeat: np.ndarray
    max_repeat: np.ndarray
    anchor_start: bool = False
    anchor_end: bool = False
    end_alternative: bool = False

    @property
    def n_elements(self) -> int:
        return int(self.min_repeat.shape[0])

    def length_range(self) -> tuple[int, int]:
        """Shortest and longest match (the longest capped at ``2**30``)."""
        lo = int(self.min_repeat.sum())
        hi = int(min(self.max_repeat.astype(np.float64).sum(), _UNBOUNDED))
        if self.end_alternative:
            lo -= int(self.min_repeat[-1])
        return lo, hi


def _class(letters: str) -> np.ndarray:
    mask = np.zeros(256, dtype=bool)
    for c in letters:
        mask[ord(c)] = True
    return mask


_ANY = _class(_LETTERS)


# ------------------------------------------------------------------------------ parsers
def _parse_prosite(text: str) -> Motif:
    src = text
    pat = "".join(text.split())
    if not pat:
        raise MotifSyntaxError(src, 1, "empty pattern")
    # positions in the cleaned pattern map to the original text for messages
    where = [i + 1 for i, c in enumerate(text) if not c.isspace()]

    def fail(i: int, reason: str) -> MotifSyntaxError:
        pos = where[i] if i < len(where) else len(text) + 1
        return MotifSyntaxError(src, pos, reason)

    n = len(pat)
    if pat.endswith("."):
        n -= 1
    i = 0
    anchor_start = anchor_end = end_alt = False
    allowed: list[np.ndarray] = []
    mins: list[int] = []
    maxs: list[int] = []
    if i < n and pat[i] == "<":
        anchor_start = True
        i += 1
    while True:
        if i >= n:
            raise fail(i, "expected an element (x, a residue letter, [..] or {..})")
        c = pat[i]
        bracket_end = False
        if c == "x":
            cls = _ANY.copy()
            i += 1
        elif c in "[{":
            close = "]" if c == "[" else "}"
            j = pat.find(close, i + 1, n)
            if j < 0:
                raise fail(i, f"'{c}' is never closed by '{close}'")
            body = pat[i + 1:j]
            letters = ""
            for t, ch in enumerate(body):
                at = i + 1 + t
                if c == "[" and ch == ">" and t == len(body) - 1:
                    bracket_end = True
                    continue
                up = ch.upper()
                if up not in SEQUENCE_LETTERS or ch == "x":
                    raise fail(at, f"{ch!r} is not a residue letter (expected one of {_LETTERS})")
                letters += up
            if not letters:
                raise fail(i, f"empty '{c}{close}'")
            cls = _class(letters) if c == "[" else _ANY & ~_class(letters)
            i = j + 1
        else:
            up = c.upper()
            if up not in SEQUENCE_LETTERS:
                raise fail(i, f"expected an element (x, a residue letter, [..] or {{..}}), "
                           f"got {c!r}")
            cls = _class(up)
            i += 1
        lo = hi = 1
        if i < n and pat[i] == "(":
            j = pat.find(")", i + 1, n)
            if j < 0:
                raise fail(i, "'(' is never closed by ')'")
            m = re.fullmatch(r"(\d+)(?:,(\d+))?", pat[i + 1:j])
            if not m:
                raise fail(i + 1, "a repeat must be (n) or (n,m) with integers")
            lo = int(m.group(1))
            hi = int(m.group(2)) if m.group(2) is not None else lo
            if hi < lo:
                raise fail(i + 1, f"repeat ({lo},{hi}): the maximum is smaller than the minimum")
            if hi == 0:
                raise fail(i + 1, "repeat of zero")
            i = j + 1
        allowed.append(cls)
        mins.append(lo)
        maxs.append(hi)
        if bracket_end:
            if i < n and not (pat[i] == ">" and i + 1 == n):
                raise fail(i - 1, "'>' inside brackets is only allowed in the last element")
            end_alt = True
        if i < n and pat[i] == ">":
            if i + 1 != n:
                raise fail(i, "'>' (C-terminus) must end the pattern")
            anchor_end = True
            i += 1
        if i >= n:
            break
        if pat[i] != "-":
            raise fail(i, f"expected '-' between elements, got {pat[i]!r}")
        i += 1
    if end_alt and anchor_end:
        end_alt = False  # [G>]> : anchored anyway, G or the end; the end alone is empty
    return Motif(text, np.array(allowed), np.array(mins, np.int64), np.array(maxs, np.int64),
                 anchor_start, anchor_end, end_alt)


def _parse_regex(text: str) -> Motif:
    pat = text.strip()
    if not pat:
        raise MotifSyntaxError(text, 1, "empty pattern")
    off = len(text) - len(text.lstrip())

    def fail(i: int, reason: str) -> MotifSyntaxError:
        return MotifSyntaxError(text, off + i + 1, reason)

    n = len(pat)
    i = 0
    anchor_start = anchor_end = False
    if pat[0] == "^":
        anchor_start = True
        i = 1
    if n > i and pat[-1] == "$" and not pat.endswith("\\$"):
        anchor_end = True
        n -= 1
    allowed: list[np.ndarray] = []
    mins: list[int] = []
    maxs: list[int] = []
    while i < n:
        c = pat[i]
        if c == ".":
            cls = _ANY.copy()
            i += 1
        elif c == "[":
            j = pat.find("]", i + 1, n)
            if j < 0:
                raise fail(i, "'[' is never closed by ']'")
            body = pat[i + 1:j]
            negate = body.startswith("^")
            if negate:
                body = body[1:]
            for t, ch in enumerate(body):
                if ch.upper() not in SEQUENCE_LETTERS:
                    raise fail(i + 1 + t + negate, f"{ch!r} is not a residue letter")
            if not body:
                raise fail(i, "empty '[]'")
            cls = _class(body.upper())
            cls = _ANY & ~cls if negate else cls
            i = j + 1
        elif c.upper() in SEQUENCE_LETTERS:
            cls = _class(c.upper())
            i += 1
        else:
            raise fail(i, f"{c!r} is not supported (residue letters, '.', [..], [^..], "
                       "?, *, +, {n}, {n,}, {n,m}, ^ and $ only)")
        lo = hi = 1
        if i < n and pat[i] in "?*+{":
            q = pat[i]
            if q == "?":
                lo, hi = 0, 1
                i += 1
            elif q == "*":
                lo, hi = 0, _UNBOUNDED
                i += 1
            elif q == "+":
                lo, hi = 1, _UNBOUNDED
                i += 1
            else:
                j = pat.find("}", i + 1, n)
                m = re.fullmatch(r"(\d+)(,(\d*))?", pat[i + 1:j]) if j > 0 else None
                if not m:
                    raise fail(i, "a repeat must be {n}, {n,} or {n,m}")
                lo = int(m.group(1))
                hi = lo if m.group(2) is None else (int(m.group(3)) if m.group(3) else _UNBOUNDED)
                if hi < lo:
                    raise fail(i + 1, f"repeat {{{lo},{hi}}}: the maximum is smaller than the "
                               "minimum")
                i = j + 1
            if i < n and pat[i] in "?*+{":
                raise fail(i, "a quantifier must follow a residue class")
        if hi == 0:
            raise fail(i - 1, "repeat of zero")
        allowed.append(cls)
        mins.append(lo)
        maxs.append(hi)
    if not allowed:
        raise fail(0, "no residue class in the pattern")
    return Motif(text, np.array(allowed), np.array(mins, np.int64), np.array(maxs, np.int64),
                 anchor_start, anchor_end, False)


def compile_motif(pattern: str, syntax: str = "prosite") -> Motif:
    """Parse one pattern.

    Arguments:
        pattern: a PROSITE pattern (``N-{P}-[ST]-{P}``) or a regular expression of the
            documented subset (``N[^P][ST][^P]``).
        syntax: ``"prosite"`` or ``"regex"``.

    Returns:
        The :class:`Motif`.

    Raises:
        MotifSyntaxError: the pattern and the 1-based position of the problem.
        ValueError: an unknown ``syntax``.
    """
    if syntax not in SYNTAXES:
        raise ValueError(f"syntax must be one of {', '.join(SYNTAXES)}, got {syntax!r}")
    if not isinstance(pattern, str):
        raise MotifSyntaxError(str(pattern), 1, "a pattern must be a string")
    return _parse_prosite(pattern) if syntax == "prosite" else _parse_regex(pattern)


def compile_motifs(patterns: Sequence[str] | str, syntax: str = "prosite") -> list[Motif]:
    """:func:`compile_motif` for each pattern (a single string is one pattern)."""
    if isinstance(patterns, str):
        patterns = [patterns]
    motifs = [compile_motif(p, syntax) for p in patterns]
    if not motifs:
        raise ValueError("no patterns given")
    return motifs


# ------------------------------------------------------------------------------ planning
def _segments(motif: Motif) -> list[tuple[int, int, list[tuple[int, np.ndarray]]]]:
    """The pattern cut at its variable repeats into segments of elements at fixed offsets from
    each other: ``(lo, hi, positions)`` with the segment's offset from the match start between
    ``lo`` and ``hi`` and ``positions`` the (offset in the segment, allowed bytes) of each
    mandatory residue (a variable element's minimum repeats end the segment before it)."""
    segs = []
    cur: list[tuple[int, np.ndarray]] = []
    lo = hi = pos = 0
    last = motif.n_elements - (1 if motif.end_alternative else 0)
    for e in range(last):
        mn, mx = int(motif.min_repeat[e]), int(motif.max_repeat[e])
        cur.extend((pos + r, motif.allowed[e]) for r in range(mn))
        pos += mn
        if mn != mx:
            if cur:
                segs.append((lo, hi, cur))
            lo, hi = lo + pos, min(hi + pos + mx - mn, _UNBOUNDED)
            cur, pos = [], 0
    if cur:
        segs.append((lo, hi, cur))
    return segs


def _filter_elements(motif: Motif) -> tuple[int, int, list[tuple[int, np.ndarray]], bool]:
    """The segment (:func:`_segments`) whose residues at fixed offsets pass least often on
    Swiss-Prot's composition, times the starts each placement implies: ``(lo, hi, positions
    most selective first, exact)``; ``exact`` 1 when the segment is the whole fixed-length
    pattern (a placement passing every position is a match, no expansion needed), 2 when it
    is all but a last element that may be the C-terminus (``[G>]``), 0 otherwise."""
    freq = np.zeros(256)
    for aa, f in _COMPOSITION.items():
        freq[ord(aa)] = f / 100
    freq[[ord(c) for c in "BZJUOX"]] = 0.0001
    best = None
    for lo, hi, pos in _segments(motif):
        if hi - lo > _MAX_WINDOW:
            continue
        ranked = sorted(((float(freq[a].sum()), o, a) for o, a in pos), key=lambda t: (t[0], t[1]))
        ranked = ranked[:_MAX_FILTERS]
        # cost per residue: walking the first filter's list + expanding the survivors' starts
        cost = ranked[0][0] + _EXPAND_COST * (hi - lo + 1) * float(np.prod([t[0] for t in ranked]))
        if best is None or cost < best[0]:
            best = (cost, lo, hi, [(o, a) for _, o, a in ranked], len(pos))
    if best is None:
        return 0, 0, [], False
    _, lo, hi, ranked, n_pos = best
    lengths = motif.length_range()
    fixed = (not (motif.anchor_start or motif.anchor_end) and lo == hi == 0
             and bool((motif.min_repeat == motif.max_repeat).all()) and n_pos == len(ranked))
    if fixed and not motif.end_alternative and n_pos == lengths[0]:
        return lo, hi, ranked, 1
    if fixed and motif.end_alternative and n_pos == lengths[0] >= 1:
        return lo, hi, ranked, 2  # the last element (not in the segment) or the C-terminus
    return lo, hi, ranked, 0


def _mask_bits(allowed: np.ndarray) -> int:
    """An allowed-byte table as a bit mask over :data:`_CODE`."""
    return int(np.bitwise_or.reduce(np.left_shift(1, _CODE[np.flatnonzero(allowed)]).astype(
        np.int64), initial=0))


def _pack(motifs: list[Motif]):
    n_pat = len(motifs)
    el_off = np.zeros(n_pat + 1, dtype=np.int64)
    np.cumsum([m.n_elements for m in motifs], out=el_off[1:])
    allowed = np.concatenate([m.allowed for m in motifs]).astype(np.uint8)
    mins = np.concatenate([m.min_repeat for m in motifs])
    maxs = np.concatenate([m.max_repeat for m in motifs])
    flags = np.zeros((n_pat, 3), dtype=np.int64)  # anchor_start, anchor_end, end_alternative
    lengths = np.zeros((n_pat, 2), dtype=np.int64)
    # filter 1: the byte -> patterns lists (CSR) of the rarest position of each pattern's
    # filter segment; filters 2..: the next rarest, checked before expanding (offset -1: none);
    # seg[p] = (lo, hi, exact): the starts a placement implies, and "no expansion needed";
    # filters are bit masks over _CODE (letter -> bit) to keep them in cache
    n_filt = max([len(_filter_elements(m)[2]) for m in motifs] + [1])
    filt_off = np.full((n_pat, n_filt), -1, dtype=np.int64)
    filt2 = np.zeros((n_pat, n_filt), dtype=np.uint32)
    seg = np.zeros((n_pat, 3), dtype=np.int64)
    by_byte: list[list[int]] = [[] for _ in range(256)]
    for p, m in enumerate(motifs):
        flags[p] = (m.anchor_start, m.anchor_end, m.end_alternative)
        lengths[p] = m.length_range()
        filt_off[p, 0] = 0
        if m.anchor_start or m.anchor_end:
            continue  # tried at their few possible starts only
        lo, hi, filters, exact = _filter_elements(m)
        seg[p] = (lo, hi, exact)
        allow = filters[0][1] if filters else _ANY
        if filters:
            filt_off[p, 0] = filters[0][0]
        for f in range(1, len(filters)):
            filt_off[p, f] = filters[f][0]
            filt2[p, f] = _mask_bits(filters[f][1])
        for b in np.flatnonzero(allow).tolist():
            by_byte[b].append(p)
    byte_off = np.zeros(257, dtype=np.int64)
    np.cumsum([len(x) for x in by_byte], out=byte_off[1:])
    byte_pats = np.array([p for x in by_byte for p in x], dtype=np.int64)
    return (el_off, allowed, mins, maxs, flags, filt_off, filt2, seg, byte_off, byte_pats,
            lengths)


# -------------------------------------------------------------------------------- kernel
@numba.njit(cache=True)
def _expand(res, a, length, s, e0, e1, allowed, mins, maxs, end_alt, anchor_end, stamps,
            clock, cur, nxt, ends):  # pragma: no cover - numba
    """Ends (exclusive, relative to the entry) of every match of elements e0..e1-1 starting
    at ``s``; returns (n_ends, clock). ``cur``/``nxt``/``ends`` are scratch arrays of offsets."""
    n_cur = 1
    cur[0] = s
    n_ends = 0
    last = e1 - 1
    for e in range(e0, e1):
        if end_alt and e == last:  # [G>]: the C-terminus instead of the last element
            for t in range(n_cur):
                if cur[t] == length and cur[t] > s:
                    ends[n_ends] = length
                    n_ends += 1
        clock += 1
        n_nxt = 0
        lo = mins[e]
        hi = maxs[e]
        for t in range(n_cur):
            p = cur[t]
            r = 0
            while True:
                if r >= lo and stamps[p + r] != clock:
                    stamps[p + r] = clock
                    nxt[n_nxt] = p + r
                    n_nxt += 1
                if r == hi or p + r >= length or allowed[e, res[a + p + r]] == 0:
                    break
                r += 1
        if n_nxt == 0:
            return n_ends, clock
        for t in range(n_nxt):
            cur[t] = nxt[t]
        n_cur = n_nxt
    for t in range(n_cur):
        q = cur[t]
        if q > s and (not anchor_end or q == length):
            if end_alt and q == length:  # already emitted through the alternative
                dup = False
                for v in range(n_ends):
                    if ends[v] == q:
                        dup = True
                if dup:
                    continue
            ends[n_ends] = q
            n_ends += 1
    ends[:n_ends].sort()
    return n_ends, clock


@numba.njit(inline="always")
def _emit(out_pat, out_ent, out_start, out_end, w, cap, p, ent, s, ends, n_ends):
    for t in range(n_ends):  # pragma: no cover - numba
        if w < cap:
            out_pat[w] = p
            out_ent[w] = ent
            out_start[w] = s
            out_end[w] = ends[t]
        w += 1
    return w


@numba.njit(parallel=True, cache=True)
def _scan(res, offsets, chunk_lo, chunk_hi, out_off, caps, el_off, allowed, mins, maxs, flags,
          filt_off, filt2, code, seg, byte_off, byte_pats, lengths, max_len, out_pat, out_ent,
          out_start, out_end, counts):  # pragma: no cover - numba
    n_pat = el_off.shape[0] - 1
    for c in numba.prange(chunk_lo.shape[0]):
        stamps = np.zeros(max_len + 2, dtype=np.int64)
        cur = np.empty(max_len + 2, dtype=np.int64)
        nxt = np.empty(max_len + 2, dtype=np.int64)
        ends = np.empty(max_len + 2, dtype=np.int64)
        last_ent = np.full(n_pat, -1, dtype=np.int64)
        last_s = np.zeros(n_pat, dtype=np.int64)
        clock = 0
        w = out_off[c]
        cap = out_off[c] + caps[c]
        for ent in range(chunk_lo[c], chunk_hi[c]):
            a = offsets[ent]
            length = offsets[ent + 1] - 1 - a
            # anchored patterns: their few possible starts
            for p in range(n_pat):
                if flags[p, 0] == 0 and flags[p, 1] == 0:
                    continue
                if flags[p, 0] == 1:
                    s_lo, s_hi = 0, 0
                else:
                    s_lo = max(0, length - lengths[p, 1])
                    s_hi = length - max(lengths[p, 0], 1)
                for s in range(s_lo, s_hi + 1):
                    n_ends, clock = _expand(res, a, length, s, el_off[p], el_off[p + 1], allowed,
                                            mins, maxs, flags[p, 2] == 1, flags[p, 1] == 1,
                                            stamps, clock, cur, nxt, ends)
                    w = _emit(out_pat, out_ent, out_start, out_end, w, cap, p, ent, s, ends,
                              n_ends)
            # the others: placements of each pattern's filter segment implied by each residue
            # allowed at its rarest position; each start the placements imply is expanded once
            # (the starts' windows slide with q: starts up to last_s[p] are done)
            for q in range(length):
                b = res[a + q]
                for t in range(byte_off[b], byte_off[b + 1]):
                    p = byte_pats[t]
                    g = q - filt_off[p, 0]
                    if g < 0:
                        continue
                    ok = True
                    for f in range(1, filt_off.shape[1]):
                        o2 = filt_off[p, f]
                        if o2 < 0:
                            break
                        if g + o2 >= length or (filt2[p, f] >> code[res[a + g + o2]]) & 1 == 0:
                            ok = False
                            break
                    if not ok:
                        continue
                    if seg[p, 2] == 1:  # fixed length, every position checked: a match
                        ends[0] = g + lengths[p, 0]
                        w = _emit(out_pat, out_ent, out_start, out_end, w, cap, p, ent, g,
                                  ends, 1)
                        continue
                    if seg[p, 2] == 2:  # all but a last element that may be the C-terminus
                        ends[0] = g + lengths[p, 1]
                        if g + lengths[p, 0] == length:
                            ends[0] = length
                        else:
                            e = el_off[p + 1] - 1
                            for r in range(g + lengths[p, 0], ends[0]):
                                if r >= length or allowed[e, res[a + r]] == 0:
                                    ok = False
                                    break
                        if ok:
                            w = _emit(out_pat, out_ent, out_start, out_end, w, cap, p, ent, g,
                                      ends, 1)
                        continue
                    s_hi = g - seg[p, 0]
                    s_lo = max(g - seg[p, 1], 0)
                    if last_ent[p] != ent:
                        last_ent[p] = ent
                        last_s[p] = -1
                    s_lo = max(s_lo, last_s[p] + 1)
                    if s_hi > last_s[p]:
                        last_s[p] = s_hi
                    for s in range(s_lo, s_hi + 1):
                        n_ends, clock = _expand(res, a, length, s, el_off[p], el_off[p + 1],
                                                allowed, mins, maxs, flags[p, 2] == 1, False,
                                                stamps, clock, cur, nxt, ends)
                        if n_ends:
                            w = _emit(out_pat, out_ent, out_start, out_end, w, cap, p, ent, s,
                                      ends, n_ends)
        counts[c] = w - out_off[c]


def _run(store: SequenceStore, packed, chunk_lo, chunk_hi, caps):
    el_off, allowed, mins, maxs, flags, filt_off, filt2, seg, byte_off, byte_pats, lengths = packed
    res = np.asarray(store.residues)
    offsets = np.asarray(store.offsets)
    out_off = np.zeros(chunk_lo.shape[0] + 1, dtype=np.int64)
    np.cumsum(caps, out=out_off[1:])
    total = int(out_off[-1])
    out = [np.empty(total, dtype=np.int32) for _ in range(4)]
    counts = np.zeros(chunk_lo.shape[0], dtype=np.int64)
    max_len = int(store.lengths().max()) if len(store) else 0
    _scan(res, offsets, chunk_lo, chunk_hi, out_off, caps, el_off, allowed, mins, maxs, flags,
          filt_off, filt2, _CODE, seg, byte_off, byte_pats, lengths, max_len, *out, counts)
    return out_off, out, counts


def find_motifs(
    store: SequenceStore, motifs: list[Motif], *, entry_mask: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every match of every motif in ``store``.

    Arguments:
        store: the sequences.
        motifs: compiled patterns (:func:`compile_motifs`).
        entry_mask: optional ``bool`` array over entries: search only these.

    Returns:
        ``(motif, entry, start, end)`` ``int32`` arrays (0-based, ``end`` exclusive) sorted by
        motif, entry, start, end.
    """
    packed = _pack(motifs)
    n = len(store)
    if entry_mask is not None:
        entries = np.flatnonzero(entry_mask)
    else:
        entries = np.arange(n)
    if entries.shape[0] == 0 or not motifs:
        z = np.zeros(0, np.int32)
        return z, z, z, z
    # chunks of consecutive selected entries, about 256 k residues each
    lengths = store.lengths()[entries] + 1
    cum = np.cumsum(lengths)
    target = max(1 << 18, int(cum[-1] // 4096))
    cut = np.searchsorted(cum, np.arange(target, int(cum[-1]), target), side="left")
    bounds = np.unique(np.concatenate([[0], cut, [entries.shape[0]]]))
    # runs of consecutive entry ids inside each chunk
    breaks = np.flatnonzero(np.diff(entries) != 1) + 1
    bounds = np.unique(np.concatenate([bounds, breaks]))
    chunk_lo = entries[bounds[:-1]].astype(np.int64)
    chunk_hi = (entries[bounds[1:] - 1] + 1).astype(np.int64)
    res_per_chunk = (np.asarray(store.offsets)[chunk_hi] - np.asarray(store.offsets)[chunk_lo])
    caps = np.maximum(256, res_per_chunk // 8).astype(np.int64)
    out_off, out, counts = _run(store, packed, chunk_lo, chunk_hi, caps)
    over = np.flatnonzero(counts > caps)
    if over.shape[0]:  # chunks whose rows did not fit: rerun them with room, then splice
        r_off, r_out, r_counts = _run(store, packed, chunk_lo[over], chunk_hi[over],
                                      counts[over].astype(np.int64))
        redo = {int(c): (r_off[j], r_out, int(r_counts[j])) for j, c in enumerate(over)}
        parts: list[list[np.ndarray]] = [[], [], [], []]
        for c in range(chunk_lo.shape[0]):
            a, arrays, m = redo.get(c, (out_off[c], out, int(counts[c])))
            for t in range(4):
                parts[t].append(arrays[t][a:a + m])
        out = [np.concatenate(p) for p in parts]
        out_off = np.zeros(chunk_lo.shape[0] + 1, dtype=np.int64)
        np.cumsum(counts, out=out_off[1:])
    # stable counting sort by pattern, in parallel over blocks of consecutive chunks
    n_blocks = min(chunk_lo.shape[0], 64)
    cut = np.linspace(0, chunk_lo.shape[0], n_blocks + 1).astype(np.int64)
    hist = _histogram(out[0], out_off, counts, cut, len(motifs))
    first = np.zeros(len(motifs), dtype=np.int64)
    np.cumsum(hist.sum(axis=0)[:-1], out=first[1:])
    dest = first[None, :] + np.cumsum(hist, axis=0) - hist
    sorted_ = [np.empty(int(counts.sum()), dtype=np.int32) for _ in range(4)]
    _scatter(*out, out_off, counts, cut, dest, *sorted_)
    return tuple(sorted_)


@numba.njit(parallel=True, cache=True)
def _histogram(pat, out_off, counts, cut, n_pat):  # pragma: no cover - numba
    """Rows of each pattern in each block of chunks ``cut[k]:cut[k + 1]``."""
    hist = np.zeros((cut.shape[0] - 1, n_pat), dtype=np.int64)
    for k in numba.prange(cut.shape[0] - 1):
        for c in range(cut[k], cut[k + 1]):
            for i in range(out_off[c], out_off[c] + counts[c]):
                hist[k, pat[i]] += 1
    return hist


@numba.njit(parallel=True, cache=True)
def _scatter(pat, ent, start, end, out_off, counts, cut, dest, s_pat, s_ent, s_start,
             s_end):  # pragma: no cover - numba
    """Each block's rows to ``dest[k, pattern]`` onwards, in order (a stable sort)."""
    for k in numba.prange(cut.shape[0] - 1):
        d = dest[k].copy()
        for c in range(cut[k], cut[k + 1]):
            for i in range(out_off[c], out_off[c] + counts[c]):
                p = pat[i]
                j = d[p]
                d[p] = j + 1
                s_pat[j] = p
                s_ent[j] = ent[i]
                s_start[j] = start[i]
                s_end[j] = end[i]


def motif_table(
    motifs: list[Motif], hits: tuple[np.ndarray, ...], accessions: pa.Array, store: SequenceStore,
    *, entry_id: bool = True,
) -> pa.Table:
    """Rows ``motif, accession, start, end`` (1-based inclusive), ``match`` [, ``entry_id``]."""
    pat, ent, start, end = hits
    texts = [m.text.encode() for m in motifs]
    t_len = np.array([len(t) for t in texts], dtype=np.int64)
    t_start = np.zeros(len(texts), dtype=np.int64)
    np.cumsum(t_len[:-1], out=t_start[1:])
    t_buf = np.frombuffer(b"".join(texts) or b"\0", dtype=np.uint8)
    cols = {
        "motif": _strings(t_buf, t_start, t_len, pat),
        "accession": accessions.take(pa.array(ent)),
        "start": pa.array((start + 1).astype(np.int32)),
        "end": pa.array(end.astype(np.int32)),
        "match": _strings(np.asarray(store.residues), np.asarray(store.offsets), None, ent,
                          start, end),
    }
    if entry_id:
        cols["entry_id"] = pa.array(ent.astype(np.int32))
    return pa.table(cols)


def _strings(src, first, length, idx, start=None, end=None) -> pa.Array:
    """Arrow strings ``src[first[idx] : first[idx] + length[idx]]`` (or, with ``start``/``end``,
    ``src[first[idx] + start : first[idx] + end]``), gathered in parallel into one buffer."""
    n = idx.shape[0]
    lens = (length[idx] if start is None else end - start).astype(np.int64)
    total = int(lens.sum())
    large = total >= 2**31
    off = np.zeros(n + 1, dtype=np.int64 if large else np.int32)
    np.cumsum(lens, out=off[1:])
    buf = np.empty(total, dtype=np.uint8)
    if total:
        _gather(src, first, idx, np.zeros(0, np.int32) if start is None else start, off, buf)
    return pa.Array.from_buffers(pa.large_string() if large else pa.string(), n,
                                 [None, pa.py_buffer(off), pa.py_buffer(buf)])


@numba.njit(parallel=True, cache=True)
def _gather(src, first, idx, start, off, buf):  # pragma: no cover - numba
    for i in numba.prange(idx.shape[0]):
        b = first[idx[i]]
        if start.shape[0]:
            b += start[i]
        w = off[i]
        for t in range(off[i + 1] - w):
            buf[w + t] = src[b + t]


def motifs_in_fasta(path, patterns: Sequence[str] | str, syntax: str = "prosite") -> pa.Table:
    """Every match of ``patterns`` in a FASTA file (plain or gzip), no knowledge base needed.

    Returns:
        Rows ``motif, accession, start, end, match`` (1-based inclusive), sorted by motif,
        record, start, end.

    Raises:
        MotifSyntaxError: a bad pattern (before the file is read).
        InputFormatError: malformed FASTA (see :func:`kb.scan.iter_fasta`).
    """
    from kb.scan import iter_fasta

    motifs = compile_motifs(patterns, syntax)
    records = list(iter_fasta(path, letters=SEQUENCE_LETTERS))
    store = SequenceStore.from_sequences([r.sequence for r in records])
    hits = find_motifs(store, motifs)
    accessions = pa.array([r.accession for r in records], pa.string())
    return motif_table(motifs, hits, accessions, store, entry_id=False)


def read_patterns(path) -> list[str]:
    """Patterns from a text file (plain or gzip): one per line; blank lines and lines starting
    with ``#`` skipped.

    Raises:
        InputFormatError: an unreadable file or one without patterns.
    """
    import gzip
    from pathlib import Path

    from kb.errors import InputFormatError

    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        text = raw.decode("utf-8")
    except (UnicodeDecodeError, OSError, EOFError) as e:
        if isinstance(e, (FileNotFoundError, IsADirectoryError)):
            raise
        raise InputFormatError(f"not a readable pattern file ({e})", path) from None
    patterns = [ln.strip() for ln in text.splitlines()]
    patterns = [p for p in patterns if p and not p.startswith("#")]
    if not patterns:
        raise InputFormatError("no patterns in the file", path)
    return patterns
