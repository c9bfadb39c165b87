#!/usr/bin/env python3
"""Compare our indicators with TA-Lib on real candles (not stored in the repository).

For every `*.csv` in the data folder (default: `../shared/data` next to the crate;
columns open_time,open,high,low,close,volume) this runs

    cargo run --release --example indicators_csv -- FILE            (compute_all)
    cargo run --release --example indicators_csv -- FILE --stream   (state saved to
                                                     JSON and reloaded every candle)

checks that both outputs are identical, computes the same indicators with TA-Lib,
checks that the warm-up (NaN prefix) is the same, and prints the largest error per
indicator, both plainly relative and with the floor the Rust golden tests use
(`|ours - talib| / max(|talib|, min(1, 1e-3 * scale))`). It also prints how far
TA-Lib's own Bollinger width is from the exact standard deviation.

Usage:  pip install TA-Lib numpy && python3 check_real_data.py [DATA_DIR]
Exit status 1 if any error exceeds 1e-9 or the warm-ups or the two runs differ.
"""

import glob
import io
import math
import os
import subprocess
import sys
from fractions import Fraction

import numpy as np
import talib

HERE = os.path.dirname(os.path.abspath(__file__))
CRATE = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
TOL = 1e-9
NAMES = ["rsi14", "macd", "macd_signal", "macd_hist", "bb_upper", "bb_middle",
         "bb_lower", "atr14", "sma20", "sma50", "sma200", "ema12", "ema26"]


def ours(path, stream):
    cmd = ["cargo", "run", "--quiet", "--release", "--example", "indicators_csv", "--", path]
    if stream:
        cmd.append("--stream")
    out = subprocess.run(cmd, cwd=CRATE, check=True, capture_output=True, text=True).stdout
    lines = out.splitlines()
    header = lines[0].split(",")
    assert header == ["open_time"] + NAMES, header
    rows = [[float(c) if c else math.nan for c in line.split(",")] for line in lines[1:]]
    return out, {name: np.array([r[i + 1] for r in rows]) for i, name in enumerate(NAMES)}


def talib_outputs(h, l, c):
    m, s, hist = talib.MACD(c, 12, 26, 9)
    u, mid, lo = talib.BBANDS(c, 20, 2.0, 2.0, 0)
    return {
        "rsi14": talib.RSI(c, 14), "macd": m, "macd_signal": s, "macd_hist": hist,
        "bb_upper": u, "bb_middle": mid, "bb_lower": lo, "atr14": talib.ATR(h, l, c, 14),
        "sma20": talib.SMA(c, 20), "sma50": talib.SMA(c, 50), "sma200": talib.SMA(c, 200),
        "ema12": talib.EMA(c, 12), "ema26": talib.EMA(c, 26),
    }


def exact_sd(window):
    f = [Fraction(float(v)) for v in window]
    mean = sum(f) / len(f)
    return math.sqrt(float(sum((v - mean) ** 2 for v in f) / len(f)))


def main():
    data = sys.argv[1] if len(sys.argv) > 1 else os.path.join(CRATE, "..", "shared", "data")
    files = sorted(glob.glob(os.path.join(data, "*.csv")))
    if not files:
        print(f"no candles in {data}")
        return 0
    print("TA-Lib", talib.__version__, talib.__ta_version__)
    ok = True
    overall = {n: [0.0, 0.0] for n in NAMES}
    for path in files:
        raw = np.genfromtxt(path, delimiter=",", skip_header=1)
        h, l, c = (np.ascontiguousarray(raw[:, k]) for k in (2, 3, 4))
        batch_text, mine = ours(path, stream=False)
        stream_text, _ = ours(path, stream=True)
        if batch_text != stream_text:
            print(f"{path}: streaming differs from batch")
            ok = False
        ref = talib_outputs(h, l, c)
        scale = float(np.max(np.abs(c)))
        print(f"{os.path.basename(path)}: {len(c)} candles; streaming == batch: {batch_text == stream_text}")
        for n in NAMES:
            a, b = mine[n], ref[n]
            if not np.array_equal(np.isnan(a), np.isnan(b)):
                print(f"  {n}: warm-up differs")
                ok = False
                continue
            k = ~np.isnan(b)
            floor = min(1.0, 1e-3 * (100.0 if n == "rsi14" else scale))
            diff = np.abs(a[k] - b[k])
            nz = np.abs(b[k]) > 0
            plain = float(np.max(diff[nz] / np.abs(b[k][nz]))) if nz.any() else 0.0
            floored = float(np.max(diff / np.maximum(np.abs(b[k]), floor)))
            overall[n][0] = max(overall[n][0], plain)
            overall[n][1] = max(overall[n][1], floored)
            if floored > TOL:
                ok = False
            print(f"  {n:12s} warm-up {int(np.sum(~k)):3d}  max rel err {plain:.2e}  (with floor {floored:.2e})")
        # Bollinger width: ours vs TA-Lib vs exact (every 7th window, to stay quick).
        w_ours = (mine["bb_upper"] - mine["bb_middle"]) / 2.0
        w_ta = (ref["bb_upper"] - ref["bb_middle"]) / 2.0
        e_ours = e_ta = 0.0
        for i in range(19, len(c), 7):
            e = exact_sd(c[i - 19:i + 1])
            if e > 0:
                e_ours = max(e_ours, abs(w_ours[i] - e) / e)
                e_ta = max(e_ta, abs(w_ta[i] - e) / e)
        print(f"  bollinger sd vs exact: ours {e_ours:.2e}, TA-Lib {e_ta:.2e} (includes the band subtraction)")
    print("overall max relative error (plain / with floor):")
    for n in NAMES:
        print(f"  {n:12s} {overall[n][0]:.2e} / {overall[n][1]:.2e}")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
