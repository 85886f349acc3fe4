#!/usr/bin/env bash
# The tail of the moments writers wait on shadowcopy: runs N rebuilds of a
# ~200k-row table back to back while the heavy benchmark's bigtx workload
# writes to it (the 500 tps mix by random key on 4 sessions at a fixed rate,
# and a 5,000-row UPDATE every 2 s), and reports, over the runs, how long
# writers were blocked by the verification's consistency point and by the
# cutover (each run's summary: the longest block, and the attempts that gave
# up), with min / median / p90 / p99 / max. Each run's log is kept with
# --verbose, so an attempt over budget can be read afterwards.
#
#   benchmarks/block_tail.sh [--runs 20] [--rate 8000] [--rows 200000]
#       [--bin build/cli/shadowcopy] [--keep-logs DIR] [--summaries FILE]
#       [-- SHADOWCOPY ARGS]
#
# --summaries FILE keeps each run's summary (JSON lines; a failed run as
# {"run": N, "failed": true}): scripts/bench --blocks writes its section
# from it.
# Starts its own throwaway PostgreSQL 15 (scripts/lib/pg.sh), as the other
# benchmarks do; prints the table on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
RUNS=20
RATE=8000
ROWS=200000
BIN=$ROOT/build/cli/shadowcopy
KEEP_LOGS=""
SUMMARIES=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --runs) RUNS=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    --rows) ROWS=$2; shift 2 ;;
    --bin) BIN=$(realpath "$2"); shift 2 ;;
    --keep-logs) KEEP_LOGS=$2; shift 2 ;;
    --summaries) SUMMARIES=$(realpath -m "$2"); shift 2 ;;
    --) shift; break ;;
    *) echo "usage: benchmarks/block_tail.sh [--runs N] [--rate TPS] [--rows N] [--bin PATH] [--keep-logs DIR] [--summaries FILE] [-- ARGS]" >&2
       exit 2 ;;
  esac
done
SC_EXTRA=("$@")
PGBIN=/usr/lib/postgresql/15/bin
B=$ROOT/benchmarks

# shellcheck source=../scripts/lib/pg.sh
source scripts/lib/pg.sh
# shellcheck source=../benchmarks/lib/bench.sh
source "$B/lib/bench.sh"
# shellcheck source=../benchmarks/lib/shapes.sh
source "$B/lib/shapes.sh"
bench_workdir shadowcopy-blocks "$BIN"
WL_PID=""
finish() {
  local rc=$?
  touch "$WORK/stop"
  [[ -z $WL_PID ]] || kill -TERM "$WL_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  bench_cleanup
  exit $rc
}
trap finish EXIT
pg_start_bench
export PGDATABASE=postgres
q -c "CREATE DATABASE b"
export PGDATABASE=b
q -v rows="$ROWS" -f "$B/orders_schema.sql" >/dev/null

# shellcheck disable=SC2046
PGOPTIONS="-c synchronous_commit=off" "$PGBIN/pgbench" -n -T 36000 -R "$RATE" $(shape_args bigtx) \
  >"$WORK/pgbench.out" 2>&1 &
WL_PID=$!
(
  while [[ ! -f $WORK/stop ]]; do
    # shellcheck disable=SC2046
    PGOPTIONS="-c synchronous_commit=off" "$PGBIN/pgbench" -n -c 1 -t 1 $(shape_big_args bigtx) >/dev/null 2>&1 || true
    sleep "$BIG_INTERVAL"
  done
) &
sleep 3

: >"$WORK/summaries.jsonl"
for ((i = 1; i <= RUNS; i++)); do
  "$SC" --table orders --execute --drop-old-table --verbose "${SC_EXTRA[@]}" >"$WORK/run$i.out" 2>"$WORK/run$i.err" ||
    { echo "run $i failed: $(tail -2 "$WORK/run$i.err" | tr '\n' ' ')" >&2
      jq -nc --argjson run "$i" '{run: $run, failed: true}' >>"$WORK/summaries.jsonl"
      continue; }
  grep '^{' "$WORK/run$i.out" | tail -1 | jq -c --arg run "$i" '(.summary // .) + {run: ($run | tonumber)}' \
    >>"$WORK/summaries.jsonl"
  sleep 1
done

python3 "$B/bench_report.py" blocks "$WORK/summaries.jsonl" "$RATE" "$ROWS"
[[ -z $SUMMARIES ]] || cp "$WORK/summaries.jsonl" "$SUMMARIES"
