"""Golden files for the backtest engine: fks's strategies run in backtesting.py and vectorbt.

    pip install backtesting==0.6.6 vectorbt==1.2.0 TA-Lib==0.8.2   # versions used (pandas 3.1.1, numpy 2.4.6)
    python3 tests/golden/backtest/make_golden.py

Writes, beside this script:
- `<series>_bars.csv`: `open_time,open,high,low,close,volume` (hourly bars, times in ms),
  project-owned seeded series: `trend` (a drifting random walk), `chop` (a mean-reverting
  Ornstein-Uhlenbeck walk) and `jumps` (a random walk whose opens gap away from the previous
  close now and then).
- `<series>_<ref>_trades.csv` with `ref` = `backtesting_py` or `vectorbt`:
  `strategy,entry_time,entry_price,exit_time,exit_price,size,pnl` (times = the open times
  of the fill bars, floats printed with `repr`, i.e. round-trippable).
- `metrics.json`: `{series: {strategy: {ref: {...}}}}`, each reference's own statistics.

The rules are fks's (see `src/core/backtest/strategy.rs`), with the indicators from TA-Lib
(fks's indicators are TA-Lib-exact): a crossover at t needs fast > slow at t and
fast <= slow at t-1 with all four values defined (NaN never crosses); RSI/Bollinger rules
are level rules. Long only, all cash per entry, commission 0.001 per side, a signal at t
fills at t+1's open, 10,000 starting cash.

How each reference is configured to fks's documented semantics (see README.md here):
- backtesting.py: `FractionalBacktest(fractional_unit=1e-12)` (sizes are floored to whole
  units of 1e-12 base units, a relative error of ~1e-12 rather than a satoshi's),
  `trade_on_close=False`, `exclusive_orders=True`, `finalize_trades=True`. The
  indicators are computed once with TA-Lib over all bars and read at the current index
  (values at t depend on bars <= t only), not through `Strategy.I`: `Strategy.I` makes
  backtesting.py skip bars until every indicator is defined PLUS ONE, so a level signal
  on the very first defined RSI bar would be ignored. backtesting.py closes a trade still
  open at the end at the last bar's OPEN (fks: the last bar's CLOSE); to reproduce fks's
  rule the reference gets one extra bar after the last one, flat at the last close, on
  which (and on the last real bar) the strategy places no order: its forced close then
  fills at the last close. The plain run's last exit price is recorded too
  (`plain_last_exit_price`) to show the difference.
- vectorbt: `Portfolio.from_signals(close=close, price=open, entries=signal.shift(1),
  exits=...shift(1), fees=0.001, size=inf, init_cash=10000, freq='1h')`. vectorbt leaves
  a position open at the end (valued at the last close, no exit fee); to reproduce fks's
  end-of-data close, an exit is added on the last bar with that bar's price set to its
  close (the `price` array is `open` everywhere else).
"""
import json
import math
import os
import warnings

import numpy as np
import pandas as pd
import talib

warnings.filterwarnings("ignore")

HERE = os.path.dirname(os.path.abspath(__file__))
T0 = 1_609_459_200_000  # 2021-01-01T00:00:00Z
H = 3_600_000
FEE = 0.001
CASH = 10_000.0


# ---------------------------------------------------------------- data (project-owned)

def ohlc_from_path(rng, opens, closes, decimals, wick):
    o = np.round(opens, decimals)
    c = np.round(closes, decimals)
    hi = np.maximum(o, c) * (1 + np.abs(rng.normal(0, wick, len(o))))
    lo = np.minimum(o, c) * (1 - np.abs(rng.normal(0, wick, len(o))))
    hi = np.maximum(np.round(hi, decimals), np.maximum(o, c))
    lo = np.minimum(np.round(lo, decimals), np.minimum(o, c))
    vol = np.round(rng.lognormal(3, 1, len(o)), 3)
    return o, hi, lo, c, vol


def series_trend(n=4000):
    rng = np.random.default_rng(20240501)
    r = rng.normal(0.0002, 0.008, n)
    closes = 30_000 * np.exp(np.cumsum(r))
    opens = np.concatenate([[30_000.0], closes[:-1]])
    return ohlc_from_path(rng, opens, closes, 2, 0.003)


def series_chop(n=4000):
    rng = np.random.default_rng(20240502)
    x = np.empty(n)
    v = math.log(100.0)
    for i in range(n):
        v = v + 0.05 * (math.log(100.0) - v) + rng.normal(0, 0.01)
        x[i] = v
    closes = np.exp(x)
    opens = np.concatenate([[100.0], closes[:-1]])
    return ohlc_from_path(rng, opens, closes, 4, 0.002)


def series_jumps(n=4000):
    rng = np.random.default_rng(20240505)
    opens = np.empty(n)
    closes = np.empty(n)
    p = 2.5
    for i in range(n):
        if i > 0 and rng.random() < 0.015:  # the open gaps away from the previous close
            p *= 1 + rng.choice([-1, 1]) * rng.uniform(0.03, 0.12)
        opens[i] = p
        p *= math.exp(rng.normal(0, 0.01))
        closes[i] = p
    return ohlc_from_path(rng, opens, closes, 5, 0.003)


SERIES = {"trend": series_trend, "chop": series_chop, "jumps": series_jumps}


def write_bars(name, arrays):
    o, hi, lo, c, vol = arrays
    n = len(o)
    with open(os.path.join(HERE, f"{name}_bars.csv"), "w") as f:
        f.write("open_time,open,high,low,close,volume\n")
        for i in range(n):
            f.write(f"{T0 + i * H},{float(o[i])!r},{float(hi[i])!r},{float(lo[i])!r},{float(c[i])!r},{float(vol[i])!r}\n")


def read_bars(name):
    df = pd.read_csv(os.path.join(HERE, f"{name}_bars.csv"))
    return df


# ---------------------------------------------------------------- fks's rules on TA-Lib

def crossings(a, b):
    """(bull, bear) bool arrays: a crosses above / below b at t; NaN never crosses."""
    n = len(a)
    bull = np.zeros(n, bool)
    bear = np.zeros(n, bool)
    a1, b1, a0, b0 = a[1:], b[1:], a[:-1], b[:-1]
    ok = ~(np.isnan(a1) | np.isnan(b1) | np.isnan(a0) | np.isnan(b0))
    bull[1:] = ok & (a1 > b1) & (a0 <= b0)
    bear[1:] = ok & ~bull[1:] & (a1 < b1) & (a0 >= b0)
    return bull, bear


def signals(strategy, close):
    """(enter_long, exit_long) per bar, computed from data up to that bar's close."""
    kind, p = strategy
    with np.errstate(invalid="ignore"):
        if kind == "sma_cross":
            return crossings(talib.SMA(close, p["fast"]), talib.SMA(close, p["slow"]))
        if kind == "ema_cross":
            return crossings(talib.EMA(close, p["fast"]), talib.EMA(close, p["slow"]))
        if kind == "macd_cross":
            m, s, _ = talib.MACD(close, p["fast"], p["slow"], p["signal"])
            return crossings(m, s)
        if kind == "rsi_reversion":
            r = talib.RSI(close, p["period"])
            return (~np.isnan(r) & (r < p["lower"])), (~np.isnan(r) & (r > p["upper"]))
        if kind == "bollinger_reversion":
            u, m, lo = talib.BBANDS(close, p["period"], p["k"], p["k"], 0)
            ok = ~(np.isnan(u) | np.isnan(m) | np.isnan(lo))
            return ok & (close < lo), ok & (close > m)
    raise ValueError(kind)


STRATEGIES = {
    "sma_cross": ("sma_cross", {"fast": 10, "slow": 30}),
    "rsi_reversion": ("rsi_reversion", {"period": 14, "lower": 30.0, "upper": 70.0}),
    "ema_cross": ("ema_cross", {"fast": 12, "slow": 26}),
    "macd_cross": ("macd_cross", {"fast": 12, "slow": 26, "signal": 9}),
    "bollinger_reversion": ("bollinger_reversion", {"period": 20, "k": 2.0}),
}


# ---------------------------------------------------------------- backtesting.py

def run_backtesting_py(df, enter, exit_, extra_bar):
    from backtesting import Strategy
    from backtesting.lib import FractionalBacktest

    n = len(df)
    data = pd.DataFrame(
        {"Open": df.open.values, "High": df.high.values, "Low": df.low.values,
         "Close": df.close.values, "Volume": df.volume.values},
        index=pd.to_datetime(df.open_time.values, unit="ms"),
    )
    if extra_bar:
        last = float(df.close.values[-1])
        data.loc[pd.Timestamp(int(df.open_time.values[-1]) + H, unit="ms")] = [last, last, last, last, 0.0]
    last_signal_bar = n - 2  # a signal on the last real bar is never filled (fks)

    class Rules(Strategy):
        def init(self):
            pass

        def next(self):
            i = len(self.data) - 1
            if i > last_signal_bar:
                return
            if exit_[i] and self.position:
                self.position.close()
            elif enter[i] and not self.position:
                self.buy()

    bt = FractionalBacktest(data, Rules, cash=CASH, commission=FEE, trade_on_close=False,
                            exclusive_orders=True, finalize_trades=True, fractional_unit=1e-12)
    st = bt.run()
    tr = st["_trades"]
    times = df.open_time.values
    idx = {pd.Timestamp(int(t), unit="ms"): int(t) for t in times}
    if extra_bar:
        idx[pd.Timestamp(int(times[-1]) + H, unit="ms")] = int(times[-1]) + H
    trades = []
    for r in tr.itertuples():
        trades.append(dict(entry_time=idx[r.EntryTime], entry_price=float(r.EntryPrice),
                           exit_time=idx[r.ExitTime], exit_price=float(r.ExitPrice),
                           size=float(r.Size), pnl=float(r.PnL), return_pct=float(r.ReturnPct) * 100))
    closed_at_end = bool(trades) and trades[-1]["exit_time"] == int(times[-1]) + H
    if extra_bar and closed_at_end:
        # the forced close on the flat extra bar = fks's end-of-data close at the last close
        trades[-1]["exit_time"] = int(times[-1])
    eq = st["_equity_curve"].Equity.values
    metrics = {
        "final_equity": float(st["Equity Final [$]"]),
        "total_return_pct": float(st["Return [%]"]),
        "max_drawdown_pct": -float(st["Max. Drawdown [%]"]),
        "total_trades": int(st["# Trades"]),
        "win_rate_pct": None if math.isnan(st["Win Rate [%]"]) else float(st["Win Rate [%]"]),
        "buy_and_hold_return_pct": float(st["Buy & Hold Return [%]"]),
        # recorded for the README's list of definitional differences, not compared as-is:
        "profit_factor_of_returns": None if math.isnan(st["Profit Factor"]) else float(st["Profit Factor"]),
        "avg_trade_pct_geometric": None if math.isnan(st["Avg. Trade [%]"]) else float(st["Avg. Trade [%]"]),
        "exposure_time_pct": float(st["Exposure Time [%]"]),
        "sharpe_daily_geometric": None if math.isnan(st["Sharpe Ratio"]) else float(st["Sharpe Ratio"]),
        "cagr_pct": None if math.isnan(st["CAGR [%]"]) else float(st["CAGR [%]"]),
        "equity_points": len(eq),
        "last_trade_closed_at_end": closed_at_end,
    }
    return trades, metrics


# ---------------------------------------------------------------- vectorbt

def run_vectorbt(df, enter, exit_):
    import vectorbt as vbt

    n = len(df)
    index = pd.to_datetime(df.open_time.values, unit="ms")
    close = pd.Series(df.close.values, index=index)
    price = df.open.values.copy()
    ent = np.zeros(n, bool)
    ex = np.zeros(n, bool)
    ent[1:] = enter[:-1]  # a signal at t fills at t+1's open
    ex[1:] = exit_[:-1]
    # fks closes a position still open after the last bar at the last close (fee charged):
    # an exit on the last bar filled at that bar's close. Unless a real exit signal (of the
    # bar before) fills at the last bar's open: then the price stays the open, and a
    # position, if any, is closed there by the signal, as fks does.
    if not ex[-1]:
        price[-1] = df.close.values[-1]
    if ent[-1]:
        # fks would enter at the last open and close at the last close; vectorbt cannot fill
        # twice in one bar. Not the case in these series (checked here).
        raise SystemExit("an entry fills on the last bar: pick another seed")
    ex[-1] = True
    pf = vbt.Portfolio.from_signals(
        close=close, entries=pd.Series(ent, index=index), exits=pd.Series(ex, index=index),
        price=pd.Series(price, index=index), fees=FEE, size=np.inf, init_cash=CASH, freq="1h")
    rec = pf.trades.values  # numpy structured records
    times = df.open_time.values
    trades = []
    for r in rec:
        trades.append(dict(entry_time=int(times[r["entry_idx"]]), entry_price=float(r["entry_price"]),
                           exit_time=int(times[r["exit_idx"]]), exit_price=float(r["exit_price"]),
                           size=float(r["size"]), pnl=float(r["pnl"]), return_pct=float(r["return"]) * 100,
                           open=bool(r["status"] == 0)))
    assert not any(t["open"] for t in trades)

    def f(x):
        x = float(x)
        return None if math.isnan(x) or math.isinf(x) else x

    metrics = {
        "final_equity": f(pf.final_value()),
        "total_return_pct": f(pf.total_return() * 100),
        "max_drawdown_pct": f(-pf.max_drawdown() * 100),
        "total_trades": int(pf.trades.count()),
        "win_rate_pct": f(pf.trades.win_rate() * 100),
        "profit_factor": f(pf.trades.profit_factor()),
        "sharpe": f(pf.sharpe_ratio()),
        "sortino": f(pf.sortino_ratio()),
        # vectorbt's trade return is pnl / (size * entry price); fks's divides by the
        # capital committed, size * entry price + entry fee:
        "avg_trade_return_pct_of_notional": f(np.mean(rec["return"]) * 100) if len(rec) else None,
        "annualization_factor": float(pf.returns_acc.ann_factor),
    }
    return trades, metrics


# ---------------------------------------------------------------- main

def write_trades(path, rows):
    with open(path, "w") as f:
        f.write("strategy,entry_time,entry_price,exit_time,exit_price,size,pnl\n")
        for s, t in rows:
            f.write(f"{s},{t['entry_time']},{t['entry_price']!r},{t['exit_time']},{t['exit_price']!r},"
                    f"{t['size']!r},{t['pnl']!r}\n")


def main():
    import backtesting
    import vectorbt

    out = {"_versions": {"backtesting": backtesting.__version__, "vectorbt": vectorbt.__version__,
                         "talib": talib.__version__, "pandas": pd.__version__, "numpy": np.__version__},
           "_settings": {"initial_cash": CASH, "fee_rate": FEE, "timeframe": "1h"}}
    for name, gen in SERIES.items():
        write_bars(name, gen())
        df = read_bars(name)  # the written (rounded) values are the input
        close = df.close.values.astype(float)
        rows_bt, rows_vbt = [], []
        out[name] = {}
        for sname, strat in STRATEGIES.items():
            enter, exit_ = signals(strat, close)
            t_bt, m_bt = run_backtesting_py(df, enter, exit_, extra_bar=True)
            t_plain, _ = run_backtesting_py(df, enter, exit_, extra_bar=False)
            t_vbt, m_vbt = run_vectorbt(df, enter, exit_)
            m_bt["plain_last_exit_time"] = t_plain[-1]["exit_time"] if t_plain else None
            m_bt["plain_last_exit_price"] = t_plain[-1]["exit_price"] if t_plain else None
            m_bt["params"] = strat[1]
            rows_bt += [(sname, t) for t in t_bt]
            rows_vbt += [(sname, t) for t in t_vbt]
            out[name][sname] = {"backtesting_py": m_bt, "vectorbt": m_vbt}
            print(f"{name:6} {sname:20} trades bt.py={len(t_bt):4} vbt={len(t_vbt):4} "
                  f"return bt.py={m_bt['total_return_pct']:+.6f}% vbt={m_vbt['total_return_pct']:+.6f}%")
        write_trades(os.path.join(HERE, f"{name}_backtesting_py_trades.csv"), rows_bt)
        write_trades(os.path.join(HERE, f"{name}_vectorbt_trades.csv"), rows_vbt)
    with open(os.path.join(HERE, "metrics.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
