"""Time vectorbt, backtesting.py and TA-Lib on the SAME data as fks's benches; JSON to stdout.

    pip install backtesting==0.6.6 vectorbt==1.2.0 TA-Lib==0.8.2
    python3 scripts/bench_compare.py [--quick] [--subset-bt-grid] > bench_compare.json
    cargo bench --bench backtest -- sma_cross_single sma_cross_default_grid   # fks's side
    cargo bench --bench indicators -- batch_functions compute_all_bars

Data: the generators of `benches/backtest.rs` (hourly LCG random walk, 30,000 start) and
`benches/indicators.rs` (5-minute xorshift random walk, 100 start), re-implemented here bit
for bit (`--check` prints checksums that the Rust side can reproduce), so every tool sees
exactly the bars fks is timed on. The 100,000-bar series is the first 100,000 bars.

What is timed (wall clock, `time.perf_counter`; numba/JIT warm-up runs excluded):
- `single_1m`: one sma_cross(10, 30) backtest over 1,000,000 bars, from the price columns to
  the metrics (indicators, crossover signals, fills at the next open with fee 0.001 on both
  sides and all cash, equity, total return / Sharpe / max drawdown / trades / win rate).
- `grid_100k`: the sma_cross grid fast 5..50 step 5 x slow 20..200 step 20 over 100,000
  bars. Of its 10 x 10 = 100 combinations the 10 with fast >= slow are SKIPPED, as fks
  skips them: 90 backtests, then the best by Sharpe. vectorbt: each distinct window's MA
  once (`MA.run` over the 10 fast and 10 slow windows), crossovers on a 90-column frame,
  one `Portfolio.from_signals` over all 90 columns. backtesting.py: `Backtest.optimize`
  with `constraint=fast < slow`, `maximize='Sharpe Ratio'` (its own process pool over the
  2 cores), the whole grid; with `--quick` or `--subset-bt-grid` only slow=200 (10 runs)
  is timed and scaled to 90 (`extrapolated_90_s`; equal to the time when the whole grid ran).
- `talib_1m`: RSI14, MACD 12/26/9, BBANDS 20/2, ATR14, SMA 20/50/200, EMA 12/26 on
  1,000,000 candles (fks: `batch_functions`).
"""
import json
import os
import statistics
import subprocess
import sys
import time
import warnings

import numpy as np
import pandas as pd
import talib

warnings.filterwarnings("ignore")
M64 = (1 << 64) - 1
FEE = 0.001
CASH = 10_000.0


# ------------------------------------------------------------------ the fks benches' data

def backtest_bars(n):
    """`bars(n)` of benches/backtest.rs, bit for bit."""
    s = 0x9E37_79B9_7F4A_7C15
    o = np.empty(n)
    h = np.empty(n)
    lo = np.empty(n)
    c = np.empty(n)
    price = 30_000.0
    mul, inc, two53 = 6364136223846793005, 1442695040888963407, float(1 << 53)
    for i in range(n):
        s = (s * mul + inc) & M64
        r1 = (s >> 11) / two53 - 0.5
        s = (s * mul + inc) & M64
        r2 = (s >> 11) / two53 - 0.5
        s = (s * mul + inc) & M64
        r3 = (s >> 11) / two53 - 0.5
        op = price
        cl = op * (1.0 + 0.01 * r1)
        o[i] = op
        c[i] = cl
        h[i] = max(op, cl) * (1.0 + 0.005 * (r2 + 0.5))
        lo[i] = min(op, cl) * (1.0 - 0.005 * (r3 + 0.5))
        price = cl
    t = np.arange(n, dtype=np.int64) * 3_600_000
    return pd.DataFrame({"Open": o, "High": h, "Low": lo, "Close": c, "Volume": np.ones(n)},
                        index=pd.to_datetime(t, unit="ms"))


def indicator_bars(n):
    """`bars(n)` of benches/indicators.rs, bit for bit."""
    seed = 0x9E37_79B9_7F4A_7C15
    two53 = float(1 << 53)
    h = np.empty(n)
    lo = np.empty(n)
    c = np.empty(n)
    close = 100.0

    def nxt():
        nonlocal seed
        seed ^= (seed << 13) & M64
        seed ^= seed >> 7
        seed ^= (seed << 17) & M64
        return (seed >> 11) / two53 - 0.5

    for i in range(n):
        op = close
        close *= 1.0 + 0.01 * nxt()
        h[i] = max(op, close) * (1.0 + 0.002 * abs(nxt()))
        lo[i] = min(op, close) * (1.0 - 0.002 * abs(nxt()))
        c[i] = close
    return h, lo, c


# ------------------------------------------------------------------ timing helpers

def timed(fn, repeat):
    ts = []
    out = None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t)
    return {"median_s": statistics.median(ts), "min_s": min(ts), "runs": repeat}, out


FAST = list(range(5, 55, 5))
SLOW = list(range(20, 220, 20))
PAIRS = [(f, s) for f in FAST for s in SLOW if f < s]  # 90 of the 100 combinations


# ------------------------------------------------------------------ vectorbt

def vbt_single(df):
    import vectorbt as vbt
    close, open_ = df.Close, df.Open
    fast = vbt.MA.run(close, 10)
    slow = vbt.MA.run(close, 30)
    entries = fast.ma_crossed_above(slow).vbt.fshift(1, fill_value=False)
    exits = fast.ma_crossed_below(slow).vbt.fshift(1, fill_value=False)
    pf = vbt.Portfolio.from_signals(close, entries, exits, price=open_, fees=FEE, size=np.inf,
                                    init_cash=CASH, freq="1h")
    return dict(total_return=float(pf.total_return()), sharpe=float(pf.sharpe_ratio()),
                max_dd=float(pf.max_drawdown()), trades=int(pf.trades.count()),
                win_rate=float(pf.trades.win_rate()))


def vbt_grid(df):
    import vectorbt as vbt
    close, open_ = df.Close, df.Open
    fast_u = vbt.MA.run(close, window=FAST).ma.values  # each distinct window once
    slow_u = vbt.MA.run(close, window=SLOW).ma.values
    fi = [FAST.index(f) for f, _ in PAIRS]
    si = [SLOW.index(s) for _, s in PAIRS]
    cols = pd.MultiIndex.from_tuples(PAIRS, names=["fast", "slow"])
    fast = pd.DataFrame(fast_u[:, fi], index=close.index, columns=cols)
    slow = pd.DataFrame(slow_u[:, si], index=close.index, columns=cols)
    entries = fast.vbt.crossed_above(slow).vbt.fshift(1, fill_value=False)
    exits = fast.vbt.crossed_below(slow).vbt.fshift(1, fill_value=False)
    pf = vbt.Portfolio.from_signals(close, entries, exits, price=open_, fees=FEE, size=np.inf,
                                    init_cash=CASH, freq="1h")
    sharpe = pf.sharpe_ratio()
    pf.total_return(), pf.max_drawdown(), pf.trades.count()
    return {"combinations": len(PAIRS), "best": [int(x) for x in sharpe.idxmax()],
            "best_sharpe": float(sharpe.max())}


# ------------------------------------------------------------------ backtesting.py

from backtesting import Strategy  # noqa: E402  (module level: optimize pickles the class)
from backtesting.lib import crossover  # noqa: E402


class SmaCross(Strategy):
    fast = 10
    slow = 30

    def init(self):
        self.f = self.I(talib.SMA, self.data.Close, self.fast)
        self.s = self.I(talib.SMA, self.data.Close, self.slow)

    def next(self):
        if crossover(self.f, self.s):
            if not self.position:
                self.buy()
        elif crossover(self.s, self.f):
            if self.position:
                self.position.close()


def fast_below_slow(p):
    return p.fast < p.slow


def bt_make(df):
    from backtesting.lib import FractionalBacktest
    return FractionalBacktest(df, SmaCross, cash=CASH, commission=FEE, trade_on_close=False,
                              exclusive_orders=True, finalize_trades=True, fractional_unit=1e-12)


def bt_single(df):
    st = bt_make(df).run()
    return dict(total_return_pct=float(st["Return [%]"]), trades=int(st["# Trades"]))


def bt_grid(df, fast, slow):
    bt = bt_make(df)
    st, heat = bt.optimize(fast=fast, slow=slow, constraint=fast_below_slow,
                           maximize="Sharpe Ratio", return_heatmap=True)
    return {"combinations": int(heat.notna().sum()),
            "best": [int(st._strategy.fast), int(st._strategy.slow)]}


# ------------------------------------------------------------------ TA-Lib

def talib_set(h, lo, c):
    return (talib.RSI(c, 14), talib.MACD(c, 12, 26, 9), talib.BBANDS(c, 20, 2.0, 2.0, 0),
            talib.ATR(h, lo, c, 14), talib.SMA(c, 20), talib.SMA(c, 50), talib.SMA(c, 200),
            talib.EMA(c, 12), talib.EMA(c, 26))


# ------------------------------------------------------------------ main

def main():
    args = set(sys.argv[1:])
    quick = "--quick" in args
    if "--check" in args:
        d = backtest_bars(1_000_000)
        h, lo, c = indicator_bars(1_000_000)
        print(json.dumps({"backtest_bar_123456": [repr(float(x)) for x in d.iloc[123456][:4]],
                          "backtest_last": [repr(float(x)) for x in d.iloc[-1][:4]],
                          "indicator_last": [repr(float(h[-1])), repr(float(lo[-1])), repr(float(c[-1]))]}))
        return
    import backtesting
    import vectorbt
    out = {
        "versions": {"python": sys.version.split()[0], "numpy": np.__version__, "pandas": pd.__version__,
                     "vectorbt": vectorbt.__version__, "backtesting": backtesting.__version__,
                     "talib": talib.__version__},
        "machine": {"nproc": os.cpu_count(), "uptime_before": subprocess.run(
            ["uptime"], capture_output=True, text=True).stdout.strip()},
        "grid": {"fast": "5..50 step 5", "slow": "20..200 step 20", "combinations_total": 100,
                 "combinations_run": len(PAIRS), "skipped": "fast >= slow (10)"},
    }
    t = time.perf_counter()
    d1m = backtest_bars(1_000_000)
    d100k = d1m.iloc[:100_000]
    h, lo, c = indicator_bars(1_000_000)
    out["data_generation_s"] = time.perf_counter() - t

    # TA-Lib
    talib_set(h, lo, c)
    out["talib_1m"], _ = timed(lambda: talib_set(h, lo, c), 5 if quick else 20)

    # vectorbt (first call compiles numba kernels: excluded)
    vbt_single(d100k)
    vbt_grid(d100k.iloc[:5_000])
    out["vectorbt_single_1m"], res = timed(lambda: vbt_single(d1m), 2 if quick else 5)
    out["vectorbt_single_1m"]["result"] = res
    out["vectorbt_grid_100k"], res = timed(lambda: vbt_grid(d100k), 2 if quick else 3)
    out["vectorbt_grid_100k"]["result"] = res

    # backtesting.py
    n_single = 100_000 if quick else 1_000_000
    r, res = timed(lambda: bt_single(d1m.iloc[:n_single]), 1)
    r["result"] = res
    if n_single != 1_000_000:
        r["bars_timed"] = n_single
        r["extrapolated_s"] = r["median_s"] * 1_000_000 / n_single
    out["backtesting_py_single_1m"] = r
    if "--subset-bt-grid" in args or quick:
        # a subset: every fast window against slow 200 (10 of the 90 runs), scaled to 90
        sub_fast, sub_slow = FAST, [200]
    else:
        sub_fast, sub_slow = FAST, SLOW
    r, res = timed(lambda: bt_grid(d100k, sub_fast, sub_slow), 1)
    r["result"] = res
    k = res["combinations"]
    r["combinations_timed"] = k
    r["per_combination_s"] = r["median_s"] / k
    r["extrapolated_90_s"] = r["median_s"] * len(PAIRS) / k
    out["backtesting_py_grid_100k"] = r
    out["machine"]["uptime_after"] = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
