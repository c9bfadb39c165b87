#!/usr/bin/env bash
# Issue 18: whole-process figures of the store paths, two fks binaries side by side in one run
# (BASE = the build before, NEW = this one), plus the peers (vectorbt, pandas + TA-Lib +
# to_sql) in the same run. Usage:
#   scripts/bench_store_speed.sh BASE_FKS NEW_FKS DATA_DIR [REPEATS]
# DATA_DIR holds BTCUSDT-1m-1M.csv (1,000,000 one-minute candles, Binance's 12 columns) and
# S0..S9-1m-100k.csv (10 × 100,000): `cd DATA_DIR && python3 scripts/bench_store_data.py`.
# Optional TEN: a SQLite store with 10 series of 1M candles (for list-data).
# Prints one line per measurement: what | binary | wall and CPU seconds.
# Needs GNU time (/usr/bin/time) and, for the Postgres lines, FKS_TEST_DATABASE_URL and psql; the peers need
# PY (a python with vectorbt 1.2.0, TA-Lib 0.8.2, pandas, sqlalchemy).
set -euo pipefail
base=$1 new=$2 data=$3 reps=${4:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
t() { /usr/bin/time -f "%e s wall, %U+%S s CPU" "$@" 2>&1 > /dev/null | tail -1; }
row() { echo "$1 | $2 | $3"; }
export FKS_SYMBOLS=BTCUSDT
for r in $(seq "$reps"); do
  for b in base new; do
    fks=$base; [ $b = new ] && fks=$new
    db="$work/$b.db"; rm -f "$db"*
    export DATABASE_URL="$db"
    row "import 1M 1m candles from CSV into SQLite" $b "$(t "$fks" import-klines "$data/BTCUSDT-1m-1M.csv" --symbol BTCUSDT --timeframe 1m --format json)"
    row "fks candles export 1M rows (csv)" $b "$(t "$fks" candles --symbol BTCUSDT --timeframe 1m)"
    row "fks candles export 1M rows (json)" $b "$(t "$fks" candles --symbol BTCUSDT --timeframe 1m --as json)"
    row "run-backtest sma_cross 10/30 over 1M 1m" $b "$(t "$fks" run-backtest --kind sma_cross --params fast=10,slow=30 --symbol BTCUSDT --timeframe 1m --format json)"
    row "list-data 1 series of 1M (first)" $b "$(t "$fks" list-data --format json)"
    row "list-data 1 series of 1M (again)" $b "$(t "$fks" list-data --format json)"
    if [ -n "${TEN:-}" ]; then
      # TEN: a store with 10 series of 1M candles (copied per binary; list-data may cache).
      cp "$TEN" "$work/ten-$b.db"
      export DATABASE_URL="$work/ten-$b.db"
      row "list-data 10 series of 1M (first)" $b "$(t "$fks" list-data --format json)"
      row "list-data 10 series of 1M (again)" $b "$(t "$fks" list-data --format json)"
      rm -f "$work/ten-$b.db"*
    fi
    # update-indicators 10 x 100k
    db2="$work/$b-ind.db"; rm -f "$db2"*
    export DATABASE_URL="$db2"
    args=()
    for k in 0 1 2 3 4 5 6 7 8 9; do
      "$fks" import-klines "$data/S$k-1m-100k.csv" --symbol S${k}USDT --timeframe 1m --format json > /dev/null
      args+=(--symbol S${k}USDT)
    done
    row "update-indicators 10x100k first run" $b "$(t "$fks" update-indicators "${args[@]}" --timeframe 1m --format json)"
    for k in 0 1 2 3 4 5 6 7 8 9; do
      tail -1 "$data/S$k-1m-100k.csv" | awk -F, 'BEGIN{OFS=","}{$1=$1+60000;$7=$7+60000;print}' > "$work/one.csv"
      "$fks" import-klines "$work/one.csv" --symbol S${k}USDT --timeframe 1m --format json > /dev/null
    done
    row "update-indicators 10x100k incremental (1 new each)" $b "$(t "$fks" update-indicators "${args[@]}" --timeframe 1m --format json)"
    if [ -n "${FKS_TEST_DATABASE_URL:-}" ]; then
      name="fks_bench_$$_${b}_$r"
      psql "$FKS_TEST_DATABASE_URL" -qc "CREATE DATABASE $name"
      export DATABASE_URL="${FKS_TEST_DATABASE_URL%/*}/$name"
      row "import 1M 1m candles from CSV into Postgres" $b "$(t "$fks" import-klines "$data/BTCUSDT-1m-1M.csv" --symbol BTCUSDT --timeframe 1m --format json)"
      row "fks candles export 1M rows from Postgres" $b "$(t "$fks" candles --symbol BTCUSDT --timeframe 1m)"
      for k in 0 1 2 3 4 5 6 7 8 9; do
        "$fks" import-klines "$data/S$k-1m-100k.csv" --symbol S${k}USDT --timeframe 1m --format json > /dev/null
      done
      row "update-indicators 10x100k first run, Postgres" $b "$(t "$fks" update-indicators "${args[@]}" --timeframe 1m --format json)"
      psql "$FKS_TEST_DATABASE_URL" -qc "DROP DATABASE $name"
    fi
  done
  if [ -n "${PY:-}" ]; then
    "$PY" "$(dirname "$0")/bench_store_peers.py" "$data" "$work"
  fi
done
