#!/usr/bin/env bash
# Heavy-write benchmark: what each way of rewriting a ~200k-row table does to
# an application that writes hard. Several write shapes run as pgbench at a
# fixed rate (--rate) against the table while it is rewritten by each method:
#
#   shapes   hot      8 sessions updating the first 100 rows (hot keys)
#            bigtx    the 500 tps mix (UPDATE/INSERT/DELETE by random key) on
#                     4 sessions, and on a fifth an UPDATE of 5,000
#                     consecutive rows every 2 s (its own pgbench)
#            hightps  the same mix without large transactions on 4 sessions,
#                     near the machine's capacity
#   methods  none (no migration), alter (offline ALTER TABLE ... TYPE numeric,
#            a rewrite), repack (pg_repack --table), sc_alter (shadowcopy
#            --alter with the same ALTER, defaults), sc_rebuild (shadowcopy
#            rebuild, defaults)
#
# Each shape's rate is calibrated first unless given: an unthrottled pgbench
# measures the capacity, the rate starts at a fraction of it (hot 0.5, bigtx
# 0.5, hightps 0.8) and drops by a quarter until the no-migration window keeps
# the worst schedule lag <= 0.5 s (at most 4 tries, fewer when a lower rate does
# not lower the lag; of the calibrated sessions:
# a shape's large transactions run at a fixed rate of their own). Per method it records the
# workload's p50/p99/max latency (from the scheduled start) and worst schedule
# lag of the transactions scheduled during the method, its wall time and, for
# shadowcopy, the start of each phase (its `phase=` log lines). Writes the
# table between <!-- bench:TAG:begin/end --> in RESULTS.md and one PNG per
# shape (gnuplot; installs gnuplot-nox if missing) under benchmarks/plots/.
#
#   benchmarks/heavy_writes.sh [--shapes hot,bigtx,hightps] [--rates hot=N,...]
#       [--methods none,alter,repack,sc_alter,sc_rebuild] [--rows 200000]
#       [--window 20] [--lead 5] [--tail 6] [--method-timeout 300]
#       [--sc-args "..."] [--tag heavy] [--results FILE] [--plots DIR]
#       [--bin PATH] [--note TEXT] [--command TEXT] [--keep-logs DIR]
#
# --command: how the run was started, for the report (scripts/bench passes its own);
# --window: seconds of the no-migration run; --lead / --tail: seconds of
# workload before and after each method. The defaults took 15-17 min for the
# three shapes on a shared 2-core machine at load 15-25 (less on a quiet one).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
ORIG_CMD="benchmarks/heavy_writes.sh$(printf ' %q' "$@")"

SHAPES=hot,bigtx,hightps
RATES=""
METHODS=none,alter,repack,sc_alter,sc_rebuild
ROWS=200000
WINDOW=20
LEAD=5
TAIL=6
METHOD_TIMEOUT=300
SC_ARGS=""
TAG=heavy
RESULTS=benchmarks/RESULTS.md
PLOTS=benchmarks/plots
BIN=$ROOT/build/cli/shadowcopy
NOTE=""
KEEP_LOGS=""
MAX_LAG_MS=500     # calibration: the worst schedule lag the shape may have alone
PROBE_S=8          # calibration: seconds of unthrottled pgbench
MAX_DRAIN=60       # seconds the workload may still take to catch up after the tail
ALTER_SQL="ALTER COLUMN customer_id TYPE numeric"

usage() { sed -n '2,38p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-2}"; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --shapes) SHAPES=$2; shift 2 ;;
    --rates) RATES=$2; shift 2 ;;
    --methods) METHODS=$2; shift 2 ;;
    --rows) ROWS=$2; shift 2 ;;
    --window) WINDOW=$2; shift 2 ;;
    --lead) LEAD=$2; shift 2 ;;
    --tail) TAIL=$2; shift 2 ;;
    --method-timeout) METHOD_TIMEOUT=$2; shift 2 ;;
    --sc-args) SC_ARGS=$2; shift 2 ;;
    --tag) TAG=$2; shift 2 ;;
    --results) RESULTS=$2; shift 2 ;;
    --plots) PLOTS=$2; shift 2 ;;
    --bin) BIN=$2; shift 2 ;;
    --note) NOTE=$2; shift 2 ;;
    --command) ORIG_CMD=$2; shift 2 ;;
    --keep-logs) KEEP_LOGS=$2; shift 2 ;;
    -h|--help) usage 0 ;;
    *) echo "heavy_writes.sh: unknown argument $1" >&2; usage ;;
  esac
done
IFS=, read -r -a SHAPE_LIST <<<"$SHAPES"
IFS=, read -r -a METHOD_LIST <<<"$METHODS"
for s in "${SHAPE_LIST[@]}"; do
  case "$s" in hot|bigtx|hightps) ;; *) echo "heavy_writes.sh: unknown shape $s" >&2; exit 2 ;; esac
done
for m in "${METHOD_LIST[@]}"; do
  case "$m" in none|alter|repack|sc_alter|sc_rebuild) ;; *) echo "heavy_writes.sh: unknown method $m" >&2; exit 2 ;; esac
done
# `none` first: it is the calibration's check and every ratio's baseline.
METHOD_LIST=(none "${METHOD_LIST[@]/none/}")
declare -A RATE_OF=()
if [[ -n $RATES ]]; then
  IFS=, read -r -a pairs <<<"$RATES"
  for p in "${pairs[@]}"; do RATE_OF[${p%%=*}]=${p#*=}; done
fi

log() { printf '[heavy %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

# ---- prerequisites (as scripts/bench installs its own) ----
PGBIN=/usr/lib/postgresql/15/bin
need_apt=()
[[ -x /usr/bin/time ]] || need_apt+=(time)
[[ -x $PGBIN/pg_repack ]] || need_apt+=(postgresql-15-repack)
command -v gnuplot >/dev/null || need_apt+=(gnuplot-nox)
if ((${#need_apt[@]})); then
  log "installing ${need_apt[*]}"
  SUDO=""; [[ $EUID -eq 0 ]] || SUDO=sudo
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
PGBENCH=$PGBIN/pgbench
HR="python3 $ROOT/benchmarks/heavy_report.py"

# shellcheck source=../scripts/lib/pg.sh
source scripts/lib/pg.sh
# shellcheck source=../benchmarks/lib/bench.sh
source "$ROOT/benchmarks/lib/bench.sh"
bench_workdir shadowcopy-heavy "$BIN"
WL_PIDS=()
finish() {
  local rc=$?
  for p in "${WL_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  bench_cleanup
  exit $rc
}
trap finish EXIT

pg_start_bench
export PGDATABASE=postgres
PG_VERSION=$(q -c "SELECT version()")

# ---- the shapes: pgbench arguments (benchmarks/lib/shapes.sh; rate and
# logging added by start_wl). A shape's large transactions run on one session,
# one every $BIG_INTERVAL s (not calibrated), each a `pgbench -t 1` that exits
# by itself (so its log is complete); big_loop records when each was due.
# shellcheck source=../benchmarks/lib/shapes.sh
source "$ROOT/benchmarks/lib/shapes.sh"
shape_fraction() {  # $1 shape: the calibration's first rate, as a fraction of the capacity
  case "$1" in hot) echo 0.5 ;; bigtx) echo 0.5 ;; hightps) echo 0.8 ;; esac
}
shape_text() {
  case "$1" in
    hot) echo "8 sessions, single-row UPDATE of one of the first 100 rows" ;;
    bigtx) echo "4 sessions, UPDATE 60% / INSERT 20% / DELETE 20% by random key; a fifth session UPDATEs 5,000 consecutive rows in one transaction every $BIG_INTERVAL s" ;;
    hightps) echo "4 sessions, UPDATE 60% / INSERT 20% / DELETE 20% by random key, near capacity" ;;
  esac
}

# One pgbench for the whole run, ended with SIGTERM after the tail: pgbench
# rounds would drop the transactions scheduled while a round's clients are
# blocked (and with them the schedule lag this benchmark is about); the
# per-transaction log lines still buffered when it ends fall after the tail.
# No --latency-limit: it skips late transactions and so hides the lag.
# Sessions run with synchronous_commit=off, as scripts/bench's workload.
start_wl() {  # $1 dir, $2 db, $3 shape, $4 rate
  mkdir -p "$1"
  # shellcheck disable=SC2046
  PGDATABASE=$2 PGOPTIONS="-c synchronous_commit=off" "$PGBENCH" -n -T 3600 -R "$4" -P 1 \
    $(shape_args "$3") -l --log-prefix="$1/lat" >"$1/pgbench.out" 2>"$1/pgbench.err" &
  WL_PIDS=($!)
  rm -f "$1/stop"
  if [[ -n $(shape_big_args "$3") ]]; then
    big_loop "$1" "$2" "$3" &
    WL_PIDS+=($!)
  fi
}
# (no python here: its start takes seconds on a loaded machine)
big_loop() {  # $1 dir, $2 db, $3 shape: until $1/stop; due times in $1/bigdue (k epoch-s)
  local k=0 start due d
  start=$(date +%s%N)
  while [[ ! -f $1/stop ]]; do
    due=$((start + k * BIG_INTERVAL * 1000000000))
    d=$((due - $(date +%s%N)))
    ((d <= 0)) || sleep "$((d / 1000000000)).$(printf '%09d' $((d % 1000000000)))"
    [[ -f $1/stop ]] && break
    echo "$k $((due / 1000000000)).$(printf '%09d' $((due % 1000000000)))" >>"$1/bigdue"
    # shellcheck disable=SC2046
    PGDATABASE=$2 PGOPTIONS="-c synchronous_commit=off" "$PGBENCH" -n -c 1 -t 1 $(shape_big_args "$3") \
      -l --log-prefix="$1/big.$k" >>"$1/pgbench-big.out" 2>>"$1/pgbench-big.err" || true
    k=$((k + 1))
  done
}
# After the tail (and the lead), keep the workload running while it is still catching up
# (its last progress line, once a second, shows a mean schedule lag over
# 50 ms), for at most $MAX_DRAIN seconds: the plot and `p99 after` show the
# whole recovery, and the transactions delayed by the method are all logged.
drain() {  # $1 dir
  local i lag
  for ((i = 0; i < MAX_DRAIN; i++)); do
    lag=$(grep -a '^progress:' "$1/pgbench.err" | tail -n 1 | sed -n 's/.* lag \([0-9.]*\) ms.*/\1/p' || true)
    [[ -n $lag ]] && awk -v l="$lag" 'BEGIN { exit !(l < 50) }' && return 0
    sleep 1
  done
}
stop_wl() {
  local p
  touch "$1/stop"
  kill -TERM "${WL_PIDS[0]}" 2>/dev/null || true
  for p in "${WL_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  WL_PIDS=()
}
new_db() {  # $1 name
  q -c "CREATE DATABASE $1 TEMPLATE tmpl STRATEGY FILE_COPY"
  q -c "CHECKPOINT"
}

# ---- one method under the workload; appends a line to results.jsonl ----
run_one() {  # $1 shape, $2 method, $3 rate, $4 attempt
  local shape=$1 m=$2 rate=$3 attempt=$4 db dir rc=0 t0 t1 load
  db=h_${shape}_${m}_${attempt}
  dir=$WORK/$shape/$m.$attempt
  mkdir -p "$dir"
  new_db "$db"
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  start_wl "$dir/wl" "$db" "$shape" "$rate"
  # the lead, and then until the workload has caught up with its start (a
  # freshly created database's pages are not cached yet): the method starts
  # on a workload in its steady state
  sleep "$LEAD"
  drain "$dir/wl"
  t0=$(now)
  case "$m" in
    none) sleep "$WINDOW" ;;
    alter)
      timeout "$METHOD_TIMEOUT" psql -qAtX -v ON_ERROR_STOP=1 -d "$db" -c "ALTER TABLE orders $ALTER_SQL" \
        >"$dir/stdout" 2>"$dir/stderr" || rc=$? ;;
    repack)
      timeout "$METHOD_TIMEOUT" "$PGBIN/pg_repack" --table orders -d "$db" >"$dir/stdout" 2>"$dir/stderr" || rc=$? ;;
    sc_alter)
      # shellcheck disable=SC2086
      PGDATABASE=$db timeout "$METHOD_TIMEOUT" "$SC" --table orders --alter "$ALTER_SQL" --execute \
        --drop-old-table $SC_ARGS >"$dir/stdout" 2>"$dir/stderr" || rc=$? ;;
    sc_rebuild)
      # shellcheck disable=SC2086
      PGDATABASE=$db timeout "$METHOD_TIMEOUT" "$SC" --table orders --execute --drop-old-table $SC_ARGS \
        >"$dir/stdout" 2>"$dir/stderr" || rc=$? ;;
  esac
  t1=$(now)
  sleep "$TAIL"
  drain "$dir/wl"
  stop_wl "$dir/wl"
  [[ $rc == 0 ]] || log "  $m FAILED (rc $rc): $(tail -3 "$dir/stderr" | tr '\n' ' ')"
  $HR record --shape "$shape" --method "$m" --rate "$rate" --attempt "$attempt" --rc "$rc" \
    --t0 "$t0" --t1 "$t1" --lead "$LEAD" --tail "$TAIL" --load "$load" --dir "$dir" >>"$WORK/results.jsonl"
  log "  => $(tail -n 1 "$WORK/results.jsonl" | $HR brief)"
  q -c "DROP DATABASE $db WITH (FORCE)"
}

log "loading $ROWS rows into template tmpl"
bench_load_template "$ROWS"

: >"$WORK/results.jsonl"
T_START=$(now)
for shape in "${SHAPE_LIST[@]}"; do
  rate=${RATE_OF[$shape]:-}
  calibrate=0
  if [[ -z $rate ]]; then
    calibrate=1
    new_db h_probe
    # shellcheck disable=SC2046
    PGDATABASE=h_probe PGOPTIONS="-c synchronous_commit=off" "$PGBENCH" -n -T "$PROBE_S" \
      $(shape_args "$shape") >"$WORK/probe.$shape.out" 2>&1 || true
    q -c "DROP DATABASE h_probe WITH (FORCE)"
    cap=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$WORK/probe.$shape.out" | head -1)
    [[ -n $cap ]] || { log "capacity probe of $shape failed: $(tail -3 "$WORK/probe.$shape.out")"; exit 1; }
    rate=$(python3 -c "print(max(10, int($cap * $(shape_fraction "$shape"))))")
    log "$shape: capacity ${cap} tps unthrottled; calibrating from $rate tps"
  fi
  for m in "${METHOD_LIST[@]}"; do
    [[ -n $m ]] || continue
    log "$shape at $rate tps: $m"
    if [[ $m == none ]]; then
      attempt=1 prev=""
      while :; do
        run_one "$shape" none "$rate" "$attempt"
        lag=$(tail -n 1 "$WORK/results.jsonl" | jq '.max_lag_ms // 1e9')
        if ((calibrate == 0)) || ((attempt >= 4)) || awk -v l="$lag" -v m="$MAX_LAG_MS" 'BEGIN { exit !(l <= m) }'; then
          break
        fi
        # a lower rate that did not lower the lag will not: the lag comes from
        # elsewhere (e.g. row locks held by the shape's large transactions)
        if [[ -n $prev ]] && awk -v l="$lag" -v p="$prev" 'BEGIN { exit !(l > 0.9 * p) }'; then
          log "  worst schedule lag $lag ms did not drop with the rate ($prev ms before): keeping $rate tps"
          break
        fi
        prev=$lag
        rate=$(python3 -c "print(max(10, int($rate * 0.75)))")
        attempt=$((attempt + 1))
        log "  worst schedule lag $lag ms > $MAX_LAG_MS ms alone: retrying at $rate tps"
      done
    else
      run_one "$shape" "$m" "$rate" 1
    fi
  done
done
ELAPSED=$(python3 -c "print(round(($(now) - $T_START) / 60, 1))")

# ---- report and plots ----
MEM=$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
CPU=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
for shape in "${SHAPE_LIST[@]}"; do
  big=$(shape_big_args "$shape" | sed "s#$ROOT/##g")
  jq -nc --arg shape "$shape" --arg args "$(shape_args "$shape" | sed "s#$ROOT/##g")${big:+; every $BIG_INTERVAL s: pgbench -t 1 $big}" \
    --arg text "$(shape_text "$shape")" '$ARGS.named' >>"$WORK/shapes.jsonl"
done
jq -n --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg tag "$TAG" --arg command "$ORIG_CMD" \
  --arg nproc "$(nproc)" --arg cpu "$CPU" --arg mem "$MEM" --arg pg "$PG_VERSION" \
  --arg sc_version "$SC_VERSION" --arg sc_args "$SC_ARGS" --arg rows "$ROWS" --arg alter "$ALTER_SQL" \
  --arg lead "$LEAD" --arg tail "$TAIL" --arg window "$WINDOW" --arg max_lag_ms "$MAX_LAG_MS" \
  --arg minutes "$ELAPSED" --arg note "$NOTE" --arg plots "$PLOTS" --arg results "$RESULTS" \
  '$ARGS.named' >"$WORK/meta.json"
mkdir -p "$PLOTS"
$HR plot "$WORK/results.jsonl" "$WORK/meta.json" "$PLOTS"
$HR table "$WORK/results.jsonl" "$WORK/meta.json" "$WORK/shapes.jsonl" >"$WORK/section.md"
{
  cat "$WORK/section.md"
  echo
  echo "<details><summary>raw results (JSON lines)</summary>"
  echo
  echo '```'
  jq -c 'del(.dir)' "$WORK/results.jsonl"
  echo '```'
  echo "</details>"
} >"$WORK/section_full.md"
python3 "$ROOT/benchmarks/bench_report.py" splice "$RESULTS" "$TAG" "$WORK/section_full.md"
cat "$WORK/section.md"
log "written to $RESULTS (section $TAG) and $PLOTS/; took $ELAPSED min"
