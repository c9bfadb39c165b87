"""Issue 18's peers, timed in the same run as fks (scripts/bench_store_speed.sh calls this).

- vectorbt 1.2.0: one sma_cross(10, 30) over the 1M-candle CSV already in memory (after a
  warm-up run for its JIT), fee 0.001, next-open fills: the in-memory figure the issue uses.
- vectorbt whole process: python start, read the CSV with pandas, run, exit.
- pandas + TA-Lib + to_sql: the old platform's update-indicators, 10 x 100k candles read from
  CSV, the same 13 indicators, written with DataFrame.to_sql into a fresh SQLite file.
"""
import os
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import talib
import vectorbt as vbt

data, work = sys.argv[1], sys.argv[2]
COLS = ["open_time", "open", "high", "low", "close", "volume"]


def load(path):
    return pd.read_csv(path, header=None, usecols=range(6), names=COLS)


def sma_cross(df):
    close = df["close"].to_numpy()
    fast = vbt.MA.run(close, 10).ma
    slow = vbt.MA.run(close, 30).ma
    entries = fast.vbt.crossed_above(slow)
    exits = fast.vbt.crossed_below(slow)
    pf = vbt.Portfolio.from_signals(
        close, entries.shift(1, fill_value=False), exits.shift(1, fill_value=False),
        price=df["open"].to_numpy(), fees=0.001, init_cash=10_000.0)
    return pf.total_return()


df = load(f"{data}/BTCUSDT-1m-1M.csv")
sma_cross(df)  # JIT warm-up
t = time.perf_counter()
sma_cross(df)
print(f"run-backtest sma_cross 10/30 over 1M 1m | vectorbt in memory | {time.perf_counter() - t:.3f}")

if os.environ.get("PEER_CHILD") is None:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", (
        "import pandas as pd, vectorbt as vbt, sys;"
        f"df = pd.read_csv('{data}/BTCUSDT-1m-1M.csv', header=None, usecols=range(6), names={COLS!r});"
        "c = df['close'].to_numpy(); f = vbt.MA.run(c, 10).ma; s = vbt.MA.run(c, 30).ma;"
        "pf = vbt.Portfolio.from_signals(c, f.vbt.crossed_above(s).shift(1, fill_value=False), "
        "f.vbt.crossed_below(s).shift(1, fill_value=False), price=df['open'].to_numpy(), fees=0.001, init_cash=10000.0);"
        "print(pf.total_return())")], check=True, capture_output=True)
    print(f"run-backtest sma_cross 10/30 over 1M 1m | vectorbt whole process (CSV, JIT cache) | {time.perf_counter() - t:.3f}")

from sqlalchemy import create_engine

db = f"{work}/peer.db"
if os.path.exists(db):
    os.remove(db)
eng = create_engine(f"sqlite:///{db}")
t = time.perf_counter()
for k in range(10):
    d = load(f"{data}/S{k}-1m-100k.csv")
    h, l, c = (d[x].to_numpy(dtype=float) for x in ("high", "low", "close"))
    macd, sig, hist = talib.MACD(c, 12, 26, 9)
    up, mid, lo = talib.BBANDS(c, 20, 2, 2)
    out = pd.DataFrame({
        "symbol": f"S{k}USDT", "timeframe": "1m", "open_time": d["open_time"],
        "rsi14": talib.RSI(c, 14), "macd": macd, "macd_signal": sig, "macd_hist": hist,
        "bb_upper": up, "bb_middle": mid, "bb_lower": lo, "atr14": talib.ATR(h, l, c, 14),
        "sma20": talib.SMA(c, 20), "sma50": talib.SMA(c, 50), "sma200": talib.SMA(c, 200),
        "ema12": talib.EMA(c, 12), "ema26": talib.EMA(c, 26)})
    out.to_sql("indicators", eng, if_exists="append", index=False)
print(f"update-indicators 10x100k first run | pandas+TA-Lib+to_sql (from CSV) | {time.perf_counter() - t:.3f}")
