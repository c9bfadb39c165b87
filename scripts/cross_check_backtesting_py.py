"""Compare fks's sma_cross with backtesting.py (FractionalBacktest) on the same bars.

    cargo run --release --example cross_check -- DIR
    PYTHONPATH=<backtesting install> python3 scripts/cross_check_backtesting_py.py DIR
"""
import json, sys, warnings
import numpy as np, pandas as pd
from backtesting import Strategy
from backtesting.lib import FractionalBacktest

warnings.filterwarnings("ignore")
d = sys.argv[1]
df = pd.read_csv(f"{d}/bars.csv")
df.index = pd.to_datetime(df.open_time, unit="ms")
df = df.rename(columns=str.capitalize)[["Open", "High", "Low", "Close", "Volume"]]

def sma(x, n):
    return pd.Series(x).rolling(n).mean().values

def make():
    class SmaCross(Strategy):
        def init(self):
            self.f = self.I(sma, self.data.Close, 10)
            self.s = self.I(sma, self.data.Close, 30)
        def next(self):
            f, s = self.f, self.s
            if len(f) < 2 or np.isnan(s[-2]):
                return
            if f[-1] > s[-1] and f[-2] <= s[-2] and not self.position:
                self.buy()  # all equity, units = cash / (price * (1 + fee)), satoshi-rounded
            elif f[-1] < s[-1] and f[-2] >= s[-2] and self.position:
                self.position.close()
    return SmaCross

for name in ["sma"]:
    fks = json.load(open(f"{d}/{name}.json"))
    bt = FractionalBacktest(df, make(), cash=10_000, commission=0.001, finalize_trades=True,
                            fractional_unit=1e-8)
    st = bt.run()
    tr = st._trades
    ours = fks["trades"]
    print(f"{name}: trades fks={len(ours)} backtesting.py={len(tr)}")
    n = min(len(ours), len(tr))
    t_ok = all(
        pd.Timestamp(ours[i]["entry_time"], unit="ms") == tr.EntryTime.iloc[i]
        and pd.Timestamp(ours[i]["exit_time"], unit="ms") == tr.ExitTime.iloc[i]
        for i in range(n))
    # the last trade is closed at the last CLOSE by fks and at the last OPEN by backtesting.py
    k = n - 1 if ours[-1]["exit_kind"] == "end_of_data" else n
    p_rel = max(max(abs(ours[i]["entry_price"] / tr.EntryPrice.iloc[i] - 1),
                    abs(ours[i]["exit_price"] / tr.ExitPrice.iloc[i] - 1)) for i in range(k))
    size_rel = max(abs(ours[i]["size"] / tr.Size.iloc[i] - 1) for i in range(k))
    pnl_abs = max(abs(ours[i]["pnl"] - tr.PnL.iloc[i]) for i in range(k))
    pnl_rel = max(abs(ours[i]["pnl"] - tr.PnL.iloc[i]) / abs(tr.PnL.iloc[i]) for i in range(k))
    print(f"  entry/exit times equal: {t_ok}; over the {k} trades not closed at the end: max rel price diff "
          f"{p_rel:.2e}, max rel size diff {size_rel:.2e} (satoshi rounding), max |pnl diff| {pnl_abs:.2e} "
          f"(max rel {pnl_rel:.2e})")
    last = ours[-1]
    print(f"  last trade: fks exit {last['exit_kind']} at {last['exit_price']}, bt.py exit {tr.ExitPrice.iloc[-1]} "
          f"(bar close {df.Close.iloc[-1]}, bar open {df.Open.iloc[-1]})")
    m = fks["metrics"]
    eq = np.array(fks["equity"])
    print(f"  final equity fks={m['final_equity']:.6f} bt.py={st['Equity Final [$]']:.6f}")
    print(f"  max drawdown fks={m['max_drawdown_pct']:.6f} bt.py={-st['Max. Drawdown [%]']:.6f}")
    print(f"  win rate fks={m['win_rate_pct']:.4f} bt.py={st['Win Rate [%]']:.4f}; "
          f"profit factor fks={m['profit_factor']:.6f} bt.py={st['Profit Factor']:.6f}")
    print(f"  exposure fks={m['exposure_pct']:.4f} bt.py={st['Exposure Time [%]']:.4f}; "
          f"buy&hold fks={m['buy_and_hold_return_pct']:.6f} bt.py={st['Buy & Hold Return [%]']:.6f}")
    bteq = st._equity_curve.Equity.values
    print(f"  equity curve max rel diff (all bars but last): {np.max(np.abs(eq[:-1] / bteq[:-1] - 1)):.2e}")
