#!/usr/bin/env python3
"""Time TA-Lib's C functions (through the Python wrapper, on numpy arrays) on the
same 1,000,000 synthetic candles as `benches/indicators.rs`, for comparison with
the divan figures of `fks`'s batch indicators.

Only the calls are timed (the arrays are built before). Each figure is the best of
5 runs (`--repeat N` to change); `whole_set` is the sum of the per-call bests,
`whole_set_single_run` the best of timing all nine calls back to back (each result
dropped at once), and `whole_set_results_kept` the same keeping all 13 output
columns alive until the set is done.
Prints JSON (milliseconds).

Usage: pip install TA-Lib numpy && python3 scripts/bench_talib.py [--n 1000000]
"""

import argparse
import json
import os
import time

import numpy as np
import talib

MASK = (1 << 64) - 1


def bars(n):
    """The random walk of `benches/indicators.rs::bars` (xorshift64, same order of draws)."""
    seed = 0x9E3779B97F4A7C15
    high = np.empty(n)
    low = np.empty(n)
    close = np.empty(n)
    c = 100.0

    def nxt():
        nonlocal seed
        seed ^= (seed << 13) & MASK
        seed ^= seed >> 7
        seed ^= (seed << 17) & MASK
        return (seed >> 11) / float(1 << 53) - 0.5

    for i in range(n):
        o = c
        c *= 1.0 + 0.01 * nxt()
        high[i] = max(o, c) * (1.0 + 0.002 * abs(nxt()))
        low[i] = min(o, c) * (1.0 - 0.002 * abs(nxt()))
        close[i] = c
    return high, low, close


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    high, low, close = bars(args.n)
    calls = {
        "rsi14": lambda: talib.RSI(close, timeperiod=14),
        "macd": lambda: talib.MACD(close, fastperiod=12, slowperiod=26, signalperiod=9),
        "bbands20": lambda: talib.BBANDS(close, timeperiod=20, nbdevup=2.0, nbdevdn=2.0, matype=0),
        "atr14": lambda: talib.ATR(high, low, close, timeperiod=14),
        "sma20": lambda: talib.SMA(close, 20),
        "sma50": lambda: talib.SMA(close, 50),
        "sma200": lambda: talib.SMA(close, 200),
        "ema12": lambda: talib.EMA(close, 12),
        "ema26": lambda: talib.EMA(close, 26),
    }
    best = {}
    for name, f in calls.items():
        f()  # warm-up
        t = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            f()
            t.append(time.perf_counter() - t0)
        best[name] = min(t) * 1e3
    whole = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        for f in calls.values():
            f()
        whole.append(time.perf_counter() - t0)
    # The same, keeping every result until the whole set is done (as a caller that
    # uses all 13 columns does, and as `compute_standard_set` returns them): the
    # output arrays cannot reuse the memory of the previous call's outputs then.
    kept = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        res = [f() for f in calls.values()]
        kept.append(time.perf_counter() - t0)
        del res
    out = {
        "talib": f"{talib.__version__} (C {talib.__ta_version__.decode() if isinstance(talib.__ta_version__, bytes) else talib.__ta_version__})",
        "n": args.n,
        "repeat": args.repeat,
        "close_last": float(close[-1]),
        "load": os.getloadavg()[0],
        "ms": {k: round(v, 3) for k, v in best.items()},
        "whole_set": round(sum(best.values()), 3),
        "whole_set_single_run": round(min(whole) * 1e3, 3),
        "whole_set_results_kept": round(min(kept) * 1e3, 3),
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
