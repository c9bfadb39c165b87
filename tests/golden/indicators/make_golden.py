#!/usr/bin/env python3
"""Generate the golden files for `crate::core::indicators`.

Runs TA-Lib (the C library wrapped by the Python `TA-Lib` package, 0.8.x on PyPI)
on price series that this project generates itself, and writes one CSV per series
next to this script:

    high,low,close,rsi14,macd,macd_signal,macd_hist,bb_upper,bb_middle,bb_lower,
    atr14,sma20,sma50,sma200,ema12,ema26,bb_sd_exact

Every float is written with `repr` (shortest round-trip form, so the Rust side reads
back exactly the double TA-Lib produced). NaN (TA-Lib's warm-up) is an empty cell.
`bb_sd_exact` is the population standard deviation of the last 20 closes computed in
exact rational arithmetic (then rounded once), to check that our Bollinger width is
exact where TA-Lib's own sum-of-squares arithmetic could not be.

Usage:  pip install TA-Lib numpy && python3 make_golden.py
The output is deterministic (fixed seeds); re-running it must give identical files.
"""

import csv
import math
import os
from fractions import Fraction

import numpy as np
import talib

HERE = os.path.dirname(os.path.abspath(__file__))

COLUMNS = [
    "high", "low", "close",
    "rsi14", "macd", "macd_signal", "macd_hist",
    "bb_upper", "bb_middle", "bb_lower", "atr14",
    "sma20", "sma50", "sma200", "ema12", "ema26", "bb_sd_exact",
]


def ohlc_from_closes(close, rng, tick, wick_scale):
    """Highs and lows consistent with the closes: open = previous close,
    high >= max(open, close), low <= min(open, close), all on the tick grid."""
    close = np.round(np.asarray(close, dtype=float) / tick) * tick
    opens = np.concatenate([[close[0]], close[:-1]])
    up = np.round(np.abs(rng.normal(0.0, wick_scale, len(close))) / tick) * tick
    dn = np.round(np.abs(rng.normal(0.0, wick_scale, len(close))) / tick) * tick
    high = np.maximum(opens, close) + up
    low = np.minimum(opens, close) - dn
    return high, low, close


def random_walk(rng):
    """Random walk with trend and volatility regimes, price around 100."""
    n = 700
    drift = np.concatenate([np.full(200, 0.002), np.full(150, -0.003),
                            np.full(200, 0.0), np.full(150, 0.001)])
    vol = np.concatenate([np.full(150, 0.005), np.full(200, 0.02),
                          np.full(150, 0.002), np.full(200, 0.01)])
    r = drift + vol * rng.normal(0.0, 1.0, n)
    close = 100.0 * np.exp(np.cumsum(r))
    return ohlc_from_closes(close, rng, 0.01, 0.3)


def flat_run(rng):
    """Starts flat (RSI 0, ATR 0, zero-width bands), walks, then a flat run of
    40 identical closes (with high = low = close) in the middle, then walks again."""
    flat0 = np.full(60, 25.5)
    walk1 = 25.5 + np.cumsum(rng.normal(0.0, 0.2, 120))
    flat1 = np.full(40, walk1[-1])
    walk2 = walk1[-1] + np.cumsum(rng.normal(0.0, 0.2, 100))
    close = np.concatenate([flat0, walk1, flat1, walk2])
    high, low, close = ohlc_from_closes(close, rng, 0.01, 0.05)
    flat_idx = np.r_[0:60, 180:220]
    # Truly flat candles: open = high = low = close (the first candle of a flat run
    # keeps its previous close as open, so only from the second one on).
    for i in flat_idx:
        if i == 0 or close[i - 1] == close[i]:
            high[i] = close[i]
            low[i] = close[i]
    return high, low, close


def jumps(rng):
    """Extreme moves: x10 and /10 jumps, single-bar spikes, a crash to near zero."""
    n = 400
    r = rng.normal(0.0, 0.01, n)
    r[50] += math.log(10.0)
    r[120] -= math.log(10.0)
    r[200] += math.log(50.0)
    r[201] -= math.log(50.0)
    r[260:270] -= 0.5
    r[300] += math.log(1000.0)
    close = 40.0 * np.exp(np.cumsum(r))
    high, low, close = ohlc_from_closes(close, rng, 1e-6, 0.0)
    # wicks proportional to price
    high = high * (1.0 + np.abs(rng.normal(0.0, 0.01, n)))
    low = low * (1.0 - np.abs(rng.normal(0.0, 0.01, n)))
    high[330] = high[330] * 20.0  # a wick spike
    low[340] = low[340] / 20.0
    return high, low, close


def high_level(rng):
    """Price around 1e5 moving in ticks of 1e-4: the classic cancellation trap."""
    n = 500
    steps = rng.integers(-3, 4, n) * 1e-4
    close = 100000.0 + np.cumsum(steps)
    high, low, close = ohlc_from_closes(close, rng, 1e-4, 2e-4)
    return high, low, close


def tiny_price(rng):
    """An altcoin quoted in BTC: price around 5e-5 with 1e-8 ticks."""
    n = 300
    close = 5e-5 * np.exp(np.cumsum(rng.normal(0.0, 0.004, n)))
    return ohlc_from_closes(close, rng, 1e-8, 1e-7)


def short(rng):
    """Shorter than the SMA 200 warm-up: that column stays empty."""
    close = 10.0 + np.cumsum(rng.normal(0.0, 0.1, 150))
    return ohlc_from_closes(close, rng, 0.001, 0.05)


def exact_sd(window):
    f = [Fraction(float(v)) for v in window]
    mean = sum(f) / len(f)
    var = sum((v - mean) ** 2 for v in f) / len(f)
    return math.sqrt(float(var))


def fmt(v):
    v = float(v)
    if math.isnan(v):
        return ""
    return repr(v)


def write_series(name, high, low, close):
    high = np.ascontiguousarray(high, dtype=float)
    low = np.ascontiguousarray(low, dtype=float)
    close = np.ascontiguousarray(close, dtype=float)
    assert np.all(high >= np.maximum(low, close)) and np.all(low <= close)
    rsi = talib.RSI(close, timeperiod=14)
    macd, sig, hist = talib.MACD(close, fastperiod=12, slowperiod=26, signalperiod=9)
    up, mid, lo = talib.BBANDS(close, timeperiod=20, nbdevup=2.0, nbdevdn=2.0, matype=0)
    atr = talib.ATR(high, low, close, timeperiod=14)
    sma20 = talib.SMA(close, 20)
    sma50 = talib.SMA(close, 50)
    sma200 = talib.SMA(close, 200)
    ema12 = talib.EMA(close, 12)
    ema26 = talib.EMA(close, 26)
    sd = [exact_sd(close[i - 19:i + 1]) if i >= 19 else float("nan") for i in range(len(close))]
    path = os.path.join(HERE, f"{name}.csv")
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(COLUMNS)
        for i in range(len(close)):
            w.writerow([fmt(c[i]) for c in (high, low, close, rsi, macd, sig, hist,
                                               up, mid, lo, atr, sma20, sma50, sma200,
                                               ema12, ema26, sd)])
    print(f"{name}: {len(close)} rows, {os.path.getsize(path)} bytes")


def main():
    print("TA-Lib", talib.__version__, talib.__ta_version__)
    series = [
        ("random_walk", random_walk, 1),
        ("flat_run", flat_run, 2),
        ("jumps", jumps, 3),
        ("high_level", high_level, 4),
        ("tiny_price", tiny_price, 5),
        ("short", short, 6),
    ]
    for name, make, seed in series:
        rng = np.random.default_rng(seed)
        write_series(name, *make(rng))


if __name__ == "__main__":
    main()
