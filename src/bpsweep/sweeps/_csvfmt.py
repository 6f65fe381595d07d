"""CSV rows in compiled code: Python's ``repr`` of a float64, and blocks of rows as bytes.

A sweep writes tens of floats per run; formatting them with ``repr`` one at a time in Python
cost about a third of the training time. This module does the same in numba and gives the
very same bytes:

1. :func:`_shortest_digits`: the shortest decimal that reads back to the same float64 (and,
   of those, the closest to it, ties to an even last digit), which is what ``repr`` prints.
   It is Schubfach (R. Giulietti, "The Schubfach way to render doubles", 2020), following
   A. Bolz's C++ version (drachennest, schubfach_64); 64x64 -> 128-bit products are made of
   32-bit halves, as numba has no 128-bit integers.
2. :func:`_put_float`: those digits laid out as ``repr`` lays them out.
3. :func:`_join_rows`: a block of CSV rows from per-column arrays (floats, ints, or codes into
   a table of pre-encoded texts), and :func:`format_block`, its Python front.

numba types a uint64 mixed with an int64 as float64, so the integer arithmetic below keeps
every operand of an unsigned expression a uint64 (the ``_U*`` constants) and casts explicitly.
"""

from __future__ import annotations

import numba
import numpy as np
import pandas as pd
from numba import prange

from .._numba import njit

# ---------------------------------------------------------------- 128-bit powers of ten

_E_MIN, _E_MAX = -292, 326  # the decimal exponents -k the digit search can ask for


def _floor_log2_pow10_exact(e: int) -> int:
    """floor(log2(10**e)), exactly (Python integers)."""
    if e >= 0:
        return (10**e).bit_length() - 1
    return -((10**-e).bit_length())  # 10**-e is not a power of two, so ceil = bit_length


def _pow10_table() -> np.ndarray:
    """(E_MAX - E_MIN + 1, 2) uint64: row e - E_MIN holds the high and low 64 bits of
    g = floor(10**e / 2**r) + 1, where r = floor(log2(10**e)) - 127, so 2**127 < g <= 2**128
    and 10**e < g * 2**r (the paper's g, rounded up even where 10**e is exact)."""
    table = np.empty((_E_MAX - _E_MIN + 1, 2), dtype=np.uint64)
    for e in range(_E_MIN, _E_MAX + 1):
        r = _floor_log2_pow10_exact(e) - 127
        if e >= 0:
            g = (10**e >> r if r >= 0 else 10**e << -r) + 1
        else:
            g = (1 << -r) // 10**-e + 1
        table[e - _E_MIN] = (g >> 64, g & ((1 << 64) - 1))
    return table


_POW10 = _pow10_table()

# ---------------------------------------------------------------- float64 -> shortest digits

_U0, _U1, _U2, _U4 = np.uint64(0), np.uint64(1), np.uint64(2), np.uint64(4)
_U10, _U32, _U40, _U52 = np.uint64(10), np.uint64(32), np.uint64(40), np.uint64(52)
_LOW32 = np.uint64(0xFFFFFFFF)
_FRACTION = np.uint64((1 << 52) - 1)  # the 52 stored significand bits
_HIDDEN = np.uint64(1 << 52)  # the implicit leading bit of a normal number
_EXP_MASK = np.uint64(0x7FF)
_SIGN = np.uint64(1 << 63)


@njit
def _mul_128(a, b):
    """(high, low) 64-bit halves of the 128-bit product a * b of two uint64."""
    a0, a1 = a & _LOW32, a >> _U32
    b0, b1 = b & _LOW32, b >> _U32
    p00, p01, p10, p11 = a0 * b0, a0 * b1, a1 * b0, a1 * b1
    mid = (p00 >> _U32) + (p01 & _LOW32) + (p10 & _LOW32)  # < 3 * 2**32: no overflow
    return p11 + (p01 >> _U32) + (p10 >> _U32) + (mid >> _U32), (mid << _U32) | (p00 & _LOW32)


@njit
def _round_to_odd(g_hi, g_lo, cp):
    """floor(g * cp / 2**128) with the lowest bit set when the division was not exact
    ("round to odd"), for the 128-bit g = (g_hi, g_lo); as the paper's rop(g, cp)."""
    x_hi, _ = _mul_128(g_lo, cp)
    y_hi, y_lo = _mul_128(g_hi, cp)
    y_lo += x_hi
    if y_lo < x_hi:  # carry
        y_hi += _U1
    return y_hi | _U1 if y_lo > _U1 else y_hi


@njit
def _floor_log10_pow2(q, lower_closer):
    """floor(log10(2**q)), or floor(log10(3/4 * 2**q)) when lower_closer; for -1074 <= q <=
    971 (the paper's fixed-point approximations; the tests check them exact over that range)."""
    return (q * 1262611 - (524031 if lower_closer else 0)) >> 22


@njit
def _floor_log2_pow10(e):
    """floor(log2(10**e)) for -326 <= e <= 326 (as above)."""
    return (e * 1741647) >> 19


@njit
def _shortest_digits(fraction, biased_exp):
    """(digits, exp10) with digits * 10**exp10 the shortest decimal that reads back to the
    finite, nonzero float64 of these stored fraction bits and biased exponent (of those, the
    closest; ties to even). digits may end in zeros."""
    if biased_exp != _U0:
        c = _HIDDEN | fraction
        q = np.int64(biased_exp) - 1075  # the value is c * 2**q
        if -52 <= q <= 0 and c & ((_U1 << np.uint64(-q)) - _U1) == _U0:
            return c >> np.uint64(-q), np.int64(0)  # a whole number below 2**53: exact
    else:  # subnormal
        c = fraction
        q = np.int64(-1074)
    # The float reads back from any decimal in the rounding interval [c - 1/2, c + 1/2] * 2**q
    # (its ends included when c is even: ties read back to the even significand); below a
    # power of two the lower half-gap is half as wide. Everything is scaled by 4 (cb = 4c) so
    # that the ends are whole numbers.
    ends_inside = (c & _U1) == _U0
    lower_closer = fraction == _U0 and biased_exp > _U1
    cbl = _U4 * c - _U2 + (_U1 if lower_closer else _U0)
    cb = _U4 * c
    cbr = _U4 * c + _U2
    # Scaled by 10**-k the interval is at least 1 wide and less than 10 wide: the decimals
    # of the shortest length lie 10**k apart, or 10**(k + 1) apart, in it.
    k = _floor_log10_pow2(q, lower_closer)
    # vb = 4 * value * 10**-k, from g ~ 10**-k * 2**(127 - floor(log2(10**-k))); h is 1..4
    h = q + _floor_log2_pow10(-k) + 1
    g_hi, g_lo = _POW10[-k - _E_MIN, 0], _POW10[-k - _E_MIN, 1]
    shift = np.uint64(h)
    vbl = _round_to_odd(g_hi, g_lo, cbl << shift)
    vb = _round_to_odd(g_hi, g_lo, cb << shift)
    vbr = _round_to_odd(g_hi, g_lo, cbr << shift)
    lower = vbl if ends_inside else vbl + _U1
    upper = vbr if ends_inside else vbr - _U1
    # s = vb / 4 is the value in units of 10**k. First try one digit fewer: of the multiples
    # u' <= value < w' of 10**(k + 1), the interval holds at most one; if it does, that is it.
    s = vb >> _U2
    if s >= _U10:
        sp = s // _U10
        up_inside = lower <= _U40 * sp
        wp_inside = _U40 * sp + _U40 <= upper
        if up_inside != wp_inside:
            return sp + (_U1 if wp_inside else _U0), k + 1
    # Else s or s + 1 in units of 10**k; when both read back, the closer (ties to even).
    u_inside = lower <= _U4 * s
    w_inside = _U4 * s + _U4 <= upper
    if u_inside != w_inside:
        return s + (_U1 if w_inside else _U0), k
    mid = _U4 * s + _U2
    round_up = vb > mid or (vb == mid and (s & _U1) != _U0)
    return s + (_U1 if round_up else _U0), k


# ---------------------------------------------------------------- laid out as repr does

_DIGIT0, _DOT, _MINUS, _PLUS = ord("0"), ord("."), ord("-"), ord("+")
_COMMA, _NEWLINE = ord(","), ord("\n")
FLOAT_WIDTH = 24  # the longest repr of a float64, e.g. -2.2250738585072014e-308
INT_WIDTH = 20  # the longest str of an int64, -9223372036854775808


@njit
def _put_ascii(buf, pos, text):
    """Write a short literal (nan, inf) at buf[pos:]; the position after it."""
    for ch in text:
        buf[pos] = ord(ch)
        pos += 1
    return pos


_POW10_U64 = np.array([10**i for i in range(20)], dtype=np.uint64)
#: "00", "01", ..., "99": digits are written two at a time (half the divisions)
_PAIRS = np.frombuffer("".join(f"{i:02d}" for i in range(100)).encode(), dtype=np.uint8)
_U100, _U1E8 = np.uint64(100), np.uint64(10**8)


@njit
def _count_digits(d):
    """Decimal digits of the uint64 d (1 for 0). Counted down: floats have 15 to 17 mostly."""
    n = 20
    while n > 1 and d < _POW10_U64[n - 1]:
        n -= 1
    return n


@njit
def _put_fixed(buf, end, d, n):
    """Write the last n decimal digits of the uint64 d, zero-padded, ending at buf[end - 1]."""
    i = end
    while n >= 2:
        r = d % _U100
        d //= _U100
        buf[i - 1] = _PAIRS[2 * r + 1]
        buf[i - 2] = _PAIRS[2 * r]
        i -= 2
        n -= 2
    if n == 1:
        buf[i - 1] = _DIGIT0 + np.uint8(d % _U10)


@njit
def _put_whole(buf, pos, d, n):
    """Write the n decimal digits of the uint64 d at buf[pos:]; the position after them."""
    end = pos + n
    if n > 8:  # two independent halves, so that the core can interleave their divisions
        _put_fixed(buf, end, d % _U1E8, 8)
        _put_fixed(buf, end - 8, d // _U1E8, n - 8)
    else:
        _put_fixed(buf, end, d, n)
    return end


@njit
def _put_digits(buf, pos, d, n, point):
    """Write the n decimal digits of the uint64 d at buf[pos:], with a '.' after the first
    ``point`` of them (0 < point < n); the position after them."""
    tail = n - point
    pos = _put_whole(buf, pos, d // _POW10_U64[tail], point)
    buf[pos] = _DOT
    _put_fixed(buf, pos + 1 + tail, d % _POW10_U64[tail], tail)
    return pos + 1 + tail


@njit
def _put_zeros(buf, pos, n):
    for i in range(n):
        buf[pos + i] = _DIGIT0
    return pos + n


@njit
def _put_float(buf, pos, bits):
    """Write ``repr(x)`` of the float64 with these bits (int64) at buf[pos:] (ASCII, at most
    FLOAT_WIDTH bytes); the position after it."""
    b = np.uint64(bits)
    fraction = b & _FRACTION
    biased_exp = (b >> _U52) & _EXP_MASK
    if biased_exp == _EXP_MASK:
        if fraction != _U0:
            return _put_ascii(buf, pos, "nan")  # repr prints every NaN so, sign and payload
        if b & _SIGN:
            buf[pos] = _MINUS
            pos += 1
        return _put_ascii(buf, pos, "inf")
    if b & _SIGN:
        buf[pos] = _MINUS
        pos += 1
    if fraction == _U0 and biased_exp == _U0:
        return _put_ascii(buf, pos, "0.0")
    digits, exp10 = _shortest_digits(fraction, biased_exp)
    while digits % _U10 == _U0:
        digits //= _U10
        exp10 += 1
    n = _count_digits(digits)
    decpt = n + exp10  # the value is 0.DIGITS * 10**decpt
    if -4 < decpt <= 16:  # positional, as repr (float_repr_style 'short') writes it
        if decpt <= 0:  # 0.000ddd
            pos = _put_ascii(buf, pos, "0.")
            pos = _put_zeros(buf, pos, -decpt)
            return _put_whole(buf, pos, digits, n)
        if decpt < n:  # dd.ddd
            return _put_digits(buf, pos, digits, n, decpt)
        pos = _put_whole(buf, pos, digits, n)  # ddd000.0
        pos = _put_zeros(buf, pos, decpt - n)
        return _put_ascii(buf, pos, ".0")
    # d.ddde+XX: the exponent with its sign and two digits at least
    pos = _put_digits(buf, pos, digits, n, 1) if n > 1 else _put_whole(buf, pos, digits, 1)
    buf[pos] = ord("e")
    e = decpt - 1
    buf[pos + 1] = _MINUS if e < 0 else _PLUS
    e = abs(e)
    return _put_whole(buf, pos + 2, np.uint64(e), max(_count_digits(np.uint64(e)), 2))


@njit
def _put_int(buf, pos, v):
    """Write ``str(v)`` of the int64 v at buf[pos:]; the position after it."""
    if v < 0:
        buf[pos] = _MINUS
        pos += 1
        u = np.uint64(-(v + 1)) + _U1  # -v overflows for the smallest int64
    else:
        u = np.uint64(v)
    return _put_whole(buf, pos, u, _count_digits(u))


@njit
def _format_floats(bits, buf):
    """``repr`` of each float64 (bits, int64), each followed by a newline, at buf[0:]; the
    length written. For tests and one-off checks."""
    pos = 0
    for i in range(bits.size):
        pos = _put_float(buf, pos, bits[i])
        buf[pos] = _NEWLINE
        pos += 1
    return pos


def format_floats(values) -> list[str]:
    """``[repr(float(v)) for v in values]``, computed by the compiled formatter."""
    # a copy: a read-only array (Arrow's, zero-copy) would compile a second signature
    bits = np.array(values, dtype=np.float64).view(np.int64).ravel()
    buf = np.empty(bits.size * (FLOAT_WIDTH + 1), dtype=np.uint8)
    end = _format_floats(bits, buf)
    return buf[:end].tobytes().decode("ascii").split("\n")[:-1]


# ---------------------------------------------------------------- blocks of CSV rows

#: how _join_rows reads a column's int64 values: a float64's bits, an int64, or a code into
#: the table of texts
_FLOAT, _INT, _TEXT = 0, 1, 2


@njit
def _join_rows(kinds, values, blank, texts, text_starts, out, first, last):
    """Write CSV rows first..last-1 at out[0:]: row i holds, per column c, the text of
    values[c, i] as kinds[c] says (text code t: texts[text_starts[t]:text_starts[t + 1]]), or
    nothing where blank[c, i]; cells joined by ',', each row ended by '\\n'. Returns the length
    written."""
    n_cols = values.shape[0]
    # where each column's cell of the row above lies in out: a cell whose value equals the one
    # above is copied from there rather than formatted again (a setting swept slowly, a start
    # shared by the runs of a seed, a constant column)
    above = np.zeros(n_cols, dtype=np.int64)
    above_len = np.zeros(n_cols, dtype=np.int64)
    pos = 0
    for i in range(first, last):
        for c in range(n_cols):
            if c > 0:
                out[pos] = _COMMA
                pos += 1
            start = pos
            v = values[c, i]
            if blank[c, i]:
                pass
            elif i > first and v == values[c, i - 1] and not blank[c, i - 1]:
                for j in range(above_len[c]):
                    out[pos + j] = out[above[c] + j]
                pos += above_len[c]
            elif kinds[c] == _FLOAT:
                pos = _put_float(out, pos, v)
            elif kinds[c] == _INT:
                pos = _put_int(out, pos, v)
            else:
                for j in range(text_starts[v], text_starts[v + 1]):
                    out[pos] = texts[j]
                    pos += 1
            above[c] = start
            above_len[c] = pos - start
        out[pos] = _NEWLINE
        pos += 1
    return pos


def _quote(text: str) -> str:
    """A CSV cell for this text: quoted (inner quotes doubled) if it holds , " or a newline."""
    if any(c in text for c in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text


def format_block(columns) -> bytes:
    """CSV rows (UTF-8, each ``\\n``-terminated, no header) of equally long columns.

    ``columns``: ``(kind, values, blank)`` per column, left to right: kind ``"float"`` (each
    value written as ``repr(float(v))``), ``"int"`` (``str(int(v))``) or ``"str"``
    (``_quote(str(v))``); blank None, or a bool array, True where the cell stays empty.
    """
    n_rows = len(columns[0][1]) if columns else 0
    if n_rows == 0:
        return b""
    kinds = np.empty(len(columns), dtype=np.int8)
    values = np.empty((len(columns), n_rows), dtype=np.int64)
    blank = np.zeros((len(columns), n_rows), dtype=np.bool_)
    texts: list[bytes] = []  # the texts of every "str" column, each distinct value once
    width = len(columns)  # bytes a row may take: the commas and the newline, then the cells
    for c, (kind, column, column_blank) in enumerate(columns):
        if kind == "float":
            kinds[c] = _FLOAT
            values[c] = np.asarray(column, dtype=np.float64).view(np.int64)
            width += FLOAT_WIDTH
        elif kind == "int":
            kinds[c] = _INT
            values[c] = np.asarray(column, dtype=np.int64)
            width += INT_WIDTH
        else:  # a few distinct strings: each is quoted and encoded once, in Python
            kinds[c] = _TEXT
            column = np.asarray(column, dtype=object)
            codes, uniques = pd.factorize(column)
            if codes.min() < 0:  # factorize leaves out None and NaN: by their str() instead
                index = {}
                codes = np.array([index.setdefault(str(v), len(index)) for v in column])
                uniques = list(index)
            encoded = [_quote(str(u)).encode("utf-8") for u in uniques]
            values[c] = codes + len(texts)
            texts += encoded
            width += max(len(t) for t in encoded)
        if column_blank is not None:
            blank[c] = column_blank
    text_starts = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum([len(t) for t in texts], out=text_starts[1:])
    table = np.frombuffer(bytearray(b"".join(texts)), dtype=np.uint8)  # writable: one type
    out = np.empty(n_rows * width, dtype=np.uint8)
    # blocks of rows formatted on every core (numba's threads), each into its own stretch of
    # out; a block's first row is formatted in full, so the text is the same however split
    blocks = max(1, min(n_rows // ROWS_PER_BLOCK, 8 * numba.get_num_threads()))
    bounds = np.linspace(0, n_rows, blocks + 1).astype(np.int64)
    ends = np.empty(blocks, dtype=np.int64)
    _join_blocks(kinds, values, blank, table, text_starts, out, width, bounds, ends)
    if blocks == 1:
        return out[: ends[0]].tobytes()
    return b"".join(out[a * width : a * width + e].tobytes() for a, e in zip(bounds, ends))


#: Fewest rows a parallel block of format_block formats.
ROWS_PER_BLOCK = 2000


@njit(parallel=True)
def _join_blocks(kinds, values, blank, texts, text_starts, out, width, bounds, ends):
    """_join_rows for each block of rows [bounds[b], bounds[b+1]), on numba's threads: block
    b's text at out[bounds[b] * width:], its length in ends[b]."""
    for b in prange(bounds.shape[0] - 1):
        first = bounds[b]
        ends[b] = _join_rows(
            kinds, values, blank, texts, text_starts, out[first * width :], first, bounds[b + 1]
        )


def read_csv_exact(path, **kwargs) -> pd.DataFrame:
    """``pd.read_csv`` that reads every float written above back to the very same float64
    (pandas before 3 needs its round-trip parser for that; its default may miss the last bit)."""
    if int(pd.__version__.split(".")[0]) < 3:
        kwargs.setdefault("float_precision", "round_trip")
    return pd.read_csv(path, **kwargs)
