"""Write the data of scripts/bench_store_speed.sh into the current folder: BTCUSDT-1m-1M.csv
(1,000,000 one-minute candles in Binance's 12 columns, a random walk) and S0..S9-1m-100k.csv."""
import sys, random
def gen(path, n, seed, step=60_000, t0=1_577_836_800_000):
    r = random.Random(seed); p = 40000.0
    with open(path, "w") as f:
        for i in range(n):
            o = p
            p = max(1.0, p * (1 + r.gauss(0, 0.001)))
            h, l = max(o, p) * 1.0005, min(o, p) * 0.9995
            t = t0 + i * step
            f.write(f"{t},{o:.2f},{h:.2f},{l:.2f},{p:.2f},{r.random()*100:.8f},{t+step-1},"
                    f"{r.random()*1e6:.8f},{r.randint(1,9999)},{r.random()*50:.8f},{r.random()*5e5:.8f},0\n")
gen("BTCUSDT-1m-1M.csv", 1_000_000, 7)
for k in range(10):
    gen(f"S{k}-1m-100k.csv", 100_000, 100 + k)
