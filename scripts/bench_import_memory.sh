#!/usr/bin/env bash
# Peak memory (and wall time) of `fks import-klines` on a 2M-candle Binance dump, as a CSV and
# as a zip, with the release binary. Usage: scripts/bench_import_memory.sh [ROWS]
# Needs python3 (to write the files) and GNU time (/usr/bin/time). Figures: benches/README.md.
set -euo pipefail
rows=${1:-2000000}
root=$(cd "$(dirname "$0")/.." && pwd)
fks="$root/target/release/fks"
[ -x "$fks" ] || (cd "$root" && cargo build --release --locked)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$work" "$rows" <<'PY'
import sys, zipfile, random
work, n = sys.argv[1], int(sys.argv[2])
t0, step = 1_500_000_000_000 - 1_500_000_000_000 % 60_000, 60_000
r = random.Random(7)
p = 40000.0
with open(f"{work}/BTCUSDT-1m.csv", "w") as f:
    for i in range(n):
        o = p
        p = max(1.0, p * (1 + r.gauss(0, 0.001)))
        h, l = max(o, p) * 1.0005, min(o, p) * 0.9995
        t = t0 + i * step
        f.write(f"{t},{o:.8f},{h:.8f},{l:.8f},{p:.8f},{r.random()*100:.8f},{t+step-1},"
                f"{r.random()*1e6:.8f},{r.randint(1,9999)},{r.random()*50:.8f},{r.random()*5e5:.8f},0\n")
with zipfile.ZipFile(f"{work}/BTCUSDT-1m.zip", "w", zipfile.ZIP_DEFLATED) as z:
    z.write(f"{work}/BTCUSDT-1m.csv", "BTCUSDT-1m.csv")
PY
ls -l "$work"/BTCUSDT-1m.csv "$work"/BTCUSDT-1m.zip
for f in BTCUSDT-1m.csv BTCUSDT-1m.zip; do
  rm -f "$work"/store.db*
  /usr/bin/time -f "$f: peak RSS %M KiB, wall %e s, CPU %U s user + %S s sys" \
    env DATABASE_URL="$work/store.db" "$fks" import-klines "$work/$f" \
      --symbol BTCUSDT --timeframe 1m --format json | cut -c1-200
done
