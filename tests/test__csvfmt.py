"""The compiled CSV formatter (bpsweep.sweeps._csvfmt) against Python: repr per float over special,
boundary and random values (random bit patterns cover every exponent, subnormals and NaN
payloads), str per int, and whole blocks of rows with quoted strings and empty cells."""

import math
import struct
from fractions import Fraction

import numba
import numpy as np
import pandas as pd
import pytest

import naive
from bpsweep.engine.batch import train_columns
from bpsweep.sweeps import _csvfmt
from bpsweep.sweeps._csvfmt import format_block, format_floats
from bpsweep.sweeps.chunks import _csv_blocks
from bpsweep.sweeps.config import config_from_dict
from bpsweep.sweeps.expand import column_kind, expand_columns, result_columns

MAX = 1.7976931348623157e308


def assert_reprs(values):
    values = [float(v) for v in values]
    got = format_floats(np.array(values))
    bad = [(v, repr(v), g) for v, g in zip(values, got) if g != repr(v)]
    assert len(got) == len(values) and not bad, bad[:10]


def from_bits(b):
    return struct.unpack("<d", struct.pack("<Q", b))[0]


def test_special_values():
    nan_payloads = [
        from_bits(b)
        for b in (0x7FF8000000000000, 0xFFF8000000000000, 0x7FF0000000000001, 0xFFFFFFFFFFFFFFFF)
    ]
    assert all(math.isnan(v) for v in nan_payloads)
    assert_reprs(
        [
            0.0,
            -0.0,
            math.nan,
            math.inf,
            -math.inf,
            *nan_payloads,
            5e-324,
            -5e-324,
            1e-323,
            MAX,
            -MAX,
            2.2250738585072014e-308,
            2.225073858507201e-308,
            0.1,
            0.2,
            0.3,
            1 / 3,
            2 / 3,
            0.1 + 0.2,
            math.pi,
            1.0,
            -1.0,
            0.5,
            123.0,
            1e22,
            1e23,
            5e-310,
            1.5,
            9007199254740993.0,
        ]
    )
    assert format_floats([0.0, -0.0, math.nan, math.inf, -math.inf]) == [
        "0.0",
        "-0.0",
        "nan",
        "inf",
        "-inf",
    ]


def test_notation_boundaries():
    """repr is positional for 1e-4 <= |x| < 1e16 and scientific outside (e-05, e+16)."""
    edges = [1e-4, 1e-5, 1e16, 1e15]
    near = [np.nextafter(e, d) for e in edges for d in (0.0, math.inf)]
    values = [
        *edges,
        *near,
        1.5e16,
        1.5e-5,
        0.00012345,
        1234567890123456.0,
        9999999999999998.0,
        12345678901234567.0,
        0.0001000000000000001,
    ]
    assert_reprs(values + [-v for v in values])
    assert format_floats([1e-05, 0.0001, 1e16, 1.5e16, 1234567890123456.0, 123.0, 5e-324]) == [
        "1e-05",
        "0.0001",
        "1e+16",
        "1.5e+16",
        "1234567890123456.0",
        "123.0",
        "5e-324",
    ]


def test_powers_of_ten_and_two_and_their_neighbours():
    tens = [float(f"1e{e}") for e in range(-323, 309)]
    twos = [math.ldexp(1.0, e) for e in range(-1074, 1024)]
    values = tens + twos
    values += [np.nextafter(v, d) for v in values for d in (0.0, math.inf)]
    assert_reprs([v for v in values if math.isfinite(v)])


def test_integers():
    rng = np.random.default_rng(7)
    ints = [
        0,
        1,
        7,
        10,
        100,
        999,
        1000,
        12345,
        2**52,
        2**53,
        2**53 + 2,
        2**63,
        10**15,
        10**16,
        10**17,
        10**22,
        *rng.integers(-(2**53), 2**53, 1000).tolist(),
    ]
    assert_reprs(ints + [-i for i in ints])


def test_random_bit_patterns():
    """Every exponent, subnormals, and NaNs with any payload and sign (repr: nan)."""
    bits = np.random.default_rng(1).integers(0, 2**64, 200_000, dtype=np.uint64)
    bits[:2000] &= np.uint64((1 << 52) - 1)  # subnormals
    values = bits.view(np.float64)
    assert np.isnan(values).sum() > 20
    assert_reprs(values.tolist())


def test_random_values_typical_of_a_sweep():
    rng = np.random.default_rng(2)
    values = np.concatenate(
        [
            rng.standard_normal(200_000),
            rng.uniform(1e-3, 1e3, 200_000),
            10.0 ** rng.uniform(-12, 12, 50_000),
        ]
    )
    assert_reprs(values.tolist())


def floor_log(base: int, x: Fraction) -> int:
    """floor(log_base(x)), exactly: a float estimate, then corrected."""
    k = math.floor((math.log(x.numerator) - math.log(x.denominator)) / math.log(base))
    while Fraction(base) ** k > x:
        k -= 1
    while Fraction(base) ** (k + 1) <= x:
        k += 1
    return k


def test_fixed_point_logarithms_are_exact_over_their_range():
    for q in range(-1074, 972):
        assert _csvfmt._floor_log10_pow2(q, False) == floor_log(10, Fraction(2) ** q), q
        three_quarters = Fraction(3, 4) * Fraction(2) ** q
        assert _csvfmt._floor_log10_pow2(q, True) == floor_log(10, three_quarters), q
    for e in range(-326, 327):
        assert _csvfmt._floor_log2_pow10(e) == floor_log(2, Fraction(10) ** e), e
        assert _csvfmt._floor_log2_pow10_exact(e) == floor_log(2, Fraction(10) ** e), e


def test_power_of_ten_table():
    """Row e holds g = floor(10**e / 2**r) + 1, 2**127 < g <= 2**128, as the paper's g."""
    for e in range(_csvfmt._E_MIN, _csvfmt._E_MAX + 1):
        hi, lo = (int(x) for x in _csvfmt._POW10[e - _csvfmt._E_MIN])
        g = (hi << 64) | lo
        r = _csvfmt._floor_log2_pow10_exact(e) - 127
        assert 2**127 < g <= 2**128 and g - 1 <= Fraction(10) ** e / Fraction(2) ** r < g, e


def test_mul_128():
    rng = np.random.default_rng(3)
    pairs = [(2**64 - 1, 2**64 - 1), (0, 5), (2**32, 2**32)]
    pairs += [tuple(int(x) for x in rng.integers(0, 2**64, 2, dtype=np.uint64)) for _ in range(200)]
    for a, b in pairs:
        hi, lo = _csvfmt._mul_128(np.uint64(a), np.uint64(b))
        assert (int(hi) << 64) | int(lo) == a * b


def test_block_of_rows_against_python():
    """Floats as repr, ints as str, strings quoted, blank cells empty, repeated values (the
    kernel copies a cell equal to the one above) and a missing string (str(None))."""
    rng = np.random.default_rng(4)
    n = 500
    floats = rng.standard_normal(n)
    floats[::7] = floats[0]  # repeats, some in consecutive rows
    floats[1:4] = floats[0]
    floats[10:14] = [math.nan, math.inf, -math.inf, -0.0]
    ints = rng.integers(-(10**12), 10**12, n)
    ints[:3] = [np.iinfo(np.int64).min, np.iinfo(np.int64).max, 0]
    words = np.array(["plain", "a,b", 'say "hi"', "two\nlines", "über", "", None], dtype=object)[
        rng.integers(0, 7, n)
    ]
    blank = rng.random(n) < 0.3
    const = np.full(n, 0.999)
    block = format_block(
        [
            ("int", ints, None),
            ("float", floats, blank),
            ("str", words, None),
            ("float", const, None),
            ("float", floats, None),
        ]
    )

    def quote(s):
        return '"' + s.replace('"', '""') + '"' if any(c in s for c in ',"\n\r') else s

    expected = "".join(
        f"{int(i)},{'' if b else repr(float(f))},{quote(str(w))},0.999,{float(f)!r}\n"
        for i, f, w, b in zip(ints, floats, words, blank)
    )
    assert block.decode("utf-8") == expected


@pytest.mark.parametrize(("values", "text"), [([], b""), ([2.5], b"2.5\n")])
def test_block_edge_sizes(values, text):
    assert format_block([("float", np.array(values), None)]) == text


def test_csv_blocks_equal_the_plain_python_csv():
    """A sweep's rows, mixed hidden sizes (empty cells), a quoted trainable, diverged runs
    and planted nan, inf, -inf, -0.0 and subnormal values, against tests/naive.py."""
    cfg = config_from_dict(
        {
            "name": "r",
            "train": {"max_steps": 50},
            "sweep": {
                "hidden": [1, 2, 3],
                "seed": {"start": 0, "count": 5},
                "lr": [0.1, 30.0],
                "trainable": ["all", ["w1", "b1"]],
            },
        }
    )
    columns = expand_columns(cfg, np.arange(cfg.n_runs))
    trained = train_columns(columns, cfg.n_runs)
    assert (trained.status == 2).any()
    at = trained.names.index
    trained.final[0, at("w1")], trained.final[1, at("b1")] = math.inf, -math.inf
    trained.final[2, at("w2")], trained.final_ssr[3] = -0.0, 5e-324
    trained.final[4, at("b2")] = math.nan
    names = result_columns(cfg)
    table = pd.concat([pd.DataFrame(columns), trained.frame()], axis=1)
    expected = naive.csv_rows(table.to_dict("records"), names, {c: column_kind(c) for c in names})
    assert '"w1,b1"' in expected and ",,," in expected
    assert all(f",{t}," in expected for t in ("nan", "inf", "-inf", "-0.0", "5e-324"))
    blocks = b"".join(_csv_blocks(columns, trained, cfg)).decode("utf-8")
    assert blocks == ",".join(names) + "\n" + expected


def test_format_block_is_the_same_text_on_any_number_of_threads():
    """Blocks of rows are formatted in parallel, each block's first row in full: the text must
    not depend on how many threads (blocks) there are, nor on repeats across a block edge."""
    rng = np.random.default_rng(5)
    n = 9 * _csvfmt.ROWS_PER_BLOCK + 17
    slow = np.repeat(rng.normal(size=n // 100 + 1), 100)[:n]  # long runs of one value
    cells = [
        ("int", np.arange(n), None),
        ("float", slow, None),
        ("float", rng.normal(size=n) * 10.0 ** rng.integers(-300, 300, n), rng.random(n) < 0.1),
        ("str", np.where(rng.random(n) < 0.5, "gd", "a,b"), None),
    ]
    texts = {}
    for threads in (1, 2):
        numba.set_num_threads(threads)
        texts[threads] = format_block(cells)
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    assert texts[1] == texts[2]
    rows = [
        ",".join(
            ""
            if b is not None and b[i]
            else (
                repr(float(v[i]))
                if k == "float"
                else str(v[i])
                if k == "int"
                else ('"a,b"' if v[i] == "a,b" else v[i])
            )
            for k, v, b in cells
        )
        for i in range(n)
    ]
    assert texts[1].decode() == "\n".join(rows) + "\n"
