#!/usr/bin/env bash
# Backfill benchmark: `shadowcopy backfill` over the 2M-row benchmark `orders`
# table (benchmarks/orders_schema.sql), idle and under scripts/bench's 500 tps
# pgbench write workload, next to the same UPDATE run as one statement under
# that workload (and the workload alone). Reports rows/s of the backfill and
# the workload's latency (p50/p99/max over the method's window), and writes
# the table into benchmarks/RESULTS.md between <!-- bench:backfill:... -->
# markers.
#
#   benchmarks/backfill_bench.sh [--rows N] [--set EXPR] [--where COND]
#                                [--sc-args "..."] [--results FILE] [--bin PATH]
#
# Uses the running throwaway server when SC_PG_DIR/PG* are set (scripts/lib/pg.sh),
# else starts one (port $SC_PG_PORT) and stops it at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
ORIG_CMD="benchmarks/backfill_bench.sh $*"

ROWS=2000000
SET_EXPR="note = 'n/a'"
WHERE="note IS NULL"
SC_ARGS=""
RESULTS=benchmarks/RESULTS.md
BIN=$ROOT/build/cli/shadowcopy
RATE=500
LEAD=3
ROUND=5
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rows) ROWS=$2; shift 2 ;;
    --set) SET_EXPR=$2; shift 2 ;;
    --where) WHERE=$2; shift 2 ;;
    --sc-args) SC_ARGS=$2; shift 2 ;;
    --results) RESULTS=$2; shift 2 ;;
    --bin) BIN=$2; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "backfill_bench.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

log() { printf '[backfill-bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
PGBIN=/usr/lib/postgresql/15/bin
PGBENCH=$PGBIN/pgbench
REPORT="python3 $ROOT/benchmarks/bench_report.py"
WORK=$(mktemp -d /tmp/shadowcopy-bfbench.XXXXXX)
chmod 0755 "$WORK"
cp "$BIN" "$WORK/shadowcopy"
SC=$WORK/shadowcopy

# shellcheck source=../scripts/lib/pg.sh
source scripts/lib/pg.sh
STARTED=0
WL_PIDS=()
finish() {
  local rc=$?
  touch "$WORK/stop" 2>/dev/null || true
  for p in "${WL_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  if ((STARTED)); then pg_stop; fi
  rm -rf "$WORK"
  exit $rc
}
trap finish EXIT
# A fresh server with the same settings as scripts/bench.
pg_start_bench
STARTED=1
export PGDATABASE=postgres
q() { psql -qAtX -v ON_ERROR_STOP=1 "$@"; }

# shellcheck source=../benchmarks/lib/workload.sh
source "$ROOT/benchmarks/lib/workload.sh"
now() { date +%s.%N; }

log "loading $ROWS rows into template tmpl_bf"
q -c "DROP DATABASE IF EXISTS tmpl_bf"
q -c "CREATE DATABASE tmpl_bf"
PGDATABASE=tmpl_bf q -v rows="$ROWS" -f "$ROOT/benchmarks/orders_schema.sql" >/dev/null 2>&1
MATCHING=$(q -d tmpl_bf -c "SELECT count(*) FROM orders WHERE $WHERE")
q -c "ALTER DATABASE tmpl_bf WITH ALLOW_CONNECTIONS false"

ROWS_MD=()
run_case() {  # $1 name, $2 workload on|off, $3 method backfill|statement|none
  local name=$1 wl=$2 m=$3 db=bf_$1 dir=$WORK/$1 t0 t1 rc=0 lat='{}' pgs='{}' summary='{}'
  mkdir -p "$dir"
  q -c "CREATE DATABASE $db TEMPLATE tmpl_bf STRATEGY FILE_COPY"
  q -c "CHECKPOINT"
  log "$name"
  if [[ $wl == on ]]; then start_workload "$dir/wl" "$db" "$ROWS"; sleep "$LEAD"; fi
  t0=$(now)
  case "$m" in
    backfill)
      # shellcheck disable=SC2086
      PGDATABASE=$db "$SC" backfill --table orders --set "$SET_EXPR" --where "$WHERE" --execute --socket none \
        $SC_ARGS >"$dir/stdout" 2>"$dir/stderr" || rc=$? ;;
    statement)
      q -d "$db" -c "UPDATE orders SET $SET_EXPR WHERE $WHERE" >"$dir/stdout" 2>"$dir/stderr" || rc=$? ;;
    none) sleep 15 ;;
  esac
  t1=$(now)
  if [[ $wl == on ]]; then
    sleep "$LEAD"
    stop_workload "$dir/wl"
    lat=$($REPORT lat "$t0" "$t1" "$dir"/wl/lat.*)
    pgs=$($REPORT pgbench-summary "$dir/wl/pgbench.out" "$dir/wl/pgbench.err")
  fi
  [[ $m == backfill && -s $dir/stdout ]] && summary=$(tail -n 1 "$dir/stdout" | jq -c '.summary // {}')
  local left
  left=$(q -d "$db" -c "SELECT count(*) FROM orders WHERE $WHERE")
  local wall
  wall=$(python3 -c "print(round($t1 - $t0, 1))")
  log "  rc=$rc wall=${wall}s left=$left lat=$lat pgbench=$pgs summary=$summary"
  ROWS_MD+=("$(jq -rn --arg name "$name" --arg wall "$wall" --argjson lat "$lat" --argjson pgs "$pgs" \
    --argjson s "$summary" --arg rc "$rc" --arg left "$left" --argjson matching "$MATCHING" --argjson rate "$RATE" '
    def f: if . == null then "–" else (. * 10 | round / 10 | tostring) end;
    (($wall | tonumber) * $rate | floor) as $expected |
    "| \($name) | \($wall) | " +
    (if $s.rows_changed then "\($s.rows_changed) in \($s.batches) batches, \(($s.rows_changed / $s.batches_s) | floor) rows/s (\(($s.keys_covered / $s.batches_s) | floor) keys/s)"
     elif $name | test("statement") then "\($matching) rows, \(($matching / ($wall | tonumber)) | floor) rows/s" else "–" end) +
    (if $lat.n then " | \($lat.n) / \($expected)" else " | –" end) +
    " | \($lat.p50 | f) | \($lat.p99 | f) | \($lat.max | f) | " +
    (if $pgs.processed then "\($pgs.failed + $pgs.aborted)" else "–" end) + " | \($left) | \($rc) |"')")
  q -c "DROP DATABASE $db WITH (FORCE)"
}

run_case backfill_idle off backfill
run_case workload_alone on none
run_case backfill_under_workload on backfill
run_case statement_under_workload on statement
q -c "ALTER DATABASE tmpl_bf WITH ALLOW_CONNECTIONS true"
q -c "DROP DATABASE tmpl_bf"

MEM=$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
{
  echo "### Backfill run of $(date -u +%Y-%m-%dT%H:%M:%SZ) ($ROWS rows, $MATCHING matching)"
  echo
  echo "\`$ORIG_CMD\` — \`UPDATE orders SET $SET_EXPR WHERE $WHERE\` as \`shadowcopy backfill\` (defaults:"
  echo "adaptive batches toward 200 ms, lock_timeout 500 ms, throttling on lock waiters) and as one statement;"
  echo "workload: scripts/bench's pgbench mix at $RATE tps (60% single-row updates, 20% inserts, 20% deletes),"
  echo "latency over the method's window. $(nproc) cores, $MEM, $("$SC" --version) @ $(git rev-parse --short HEAD)."
  echo
  echo "Served / scheduled: workload transactions that ran in the window (overlapping it) against the $RATE tps"
  echo "schedule. pgbench drops the rest of a round's schedule for a client blocked past the round's end, so a"
  echo "statement that blocks the workload shows as few served transactions, not as their latency: read the"
  echo "percentiles (of served transactions) together with that column."
  echo
  echo "| case | wall s | rows changed, rate | served / scheduled | p50 ms | p99 ms | max ms | failed txns | matching rows left | exit |"
  echo "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  printf '%s\n' "${ROWS_MD[@]}"
} >"$WORK/section.md"
$REPORT splice "$RESULTS" backfill "$WORK/section.md"
cat "$WORK/section.md"
