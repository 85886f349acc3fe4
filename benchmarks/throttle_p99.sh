#!/usr/bin/env bash
# The throttler against a workload's latency: the same 500 tps pgbench write
# workload as scripts/bench runs against the same table while shadowcopy
# rebuilds it, once per configuration (unthrottled, --nice-ratio R, ...), and
# once with no migration (`none`). Prints, per configuration and run, the
# workload's p50 / p99 / max over shadowcopy's wall interval, the p99 inside
# its copy and index phases, and shadowcopy's wall and copy time; writes the
# table into benchmarks/RESULTS.md between <!-- bench:TAG:begin/end -->.
#
#   benchmarks/throttle_p99.sh [--rows 2000000] [--runs 2]
#       [--configs "unthrottled=;nice1=--nice-ratio 1"] [--tag throttle-p99]
#       [--results FILE] [--bin PATH] [--keep-logs DIR]
#
# Configurations run interleaved (run 1 of each, then run 2 ...), so slow
# phases of a shared machine spread over all of them.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
ORIG_CMD="benchmarks/throttle_p99.sh$(printf ' %q' "$@")"

ROWS=2000000
RUNS=2
CONFIGS="unthrottled=;nice1=--nice-ratio 1"
TAG=throttle-p99
RESULTS=benchmarks/RESULTS.md
BIN=$ROOT/build/cli/shadowcopy
KEEP_LOGS=""
RATE=500
LEAD=3
ROUND=5
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rows) ROWS=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --configs) CONFIGS=$2; shift 2 ;;
    --tag) TAG=$2; shift 2 ;;
    --results) RESULTS=$2; shift 2 ;;
    --bin) BIN=$2; shift 2 ;;
    --keep-logs) KEEP_LOGS=$2; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "throttle_p99.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
IFS=';' read -r -a CONFIG_LIST <<<"$CONFIGS"

log() { printf '[p99 %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
PGBIN=/usr/lib/postgresql/15/bin
PGBENCH=$PGBIN/pgbench
REPORT="python3 $ROOT/benchmarks/bench_report.py"
# shellcheck source=../scripts/lib/pg.sh
source scripts/lib/pg.sh
# shellcheck source=../benchmarks/lib/bench.sh
source "$ROOT/benchmarks/lib/bench.sh"
bench_workdir shadowcopy-p99 "$BIN"
WL_PIDS=()
finish() {
  local rc=$?
  touch "$WORK/stop" 2>/dev/null || true
  for p in "${WL_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  bench_cleanup
  exit $rc
}
trap finish EXIT

# The server as scripts/bench sets it up.
pg_start_bench
export PGDATABASE=postgres

# shellcheck source=../benchmarks/lib/workload.sh
source "$ROOT/benchmarks/lib/workload.sh"

# Epoch seconds of the tool's first `phase=NAME` log line (its lines start
# with the UTC time of day), or the fallback.
phase_time() {  # $1 stderr file, $2 phase, $3 day (YYYY-MM-DD), $4 fallback
  local hms
  hms=$(grep -m1 -E "^[0-9:.]+ info: phase=$2\$" "$1" | cut -d' ' -f1 || true)
  if [[ -z $hms ]]; then echo "$4"; else date -u -d "$3 $hms" +%s.%N; fi
}

log "loading $ROWS rows"
bench_load_template "$ROWS"

: >"$WORK/results.jsonl"
for run in $(seq 1 "$RUNS"); do
  order=0
  for entry in "none=" "${CONFIG_LIST[@]}"; do
    order=$((order + 1))
    name=${entry%%=*}
    args=${entry#*=}
    db=p_${run}_${name//[^a-zA-Z0-9]/_}
    dir=$WORK/$db
    mkdir -p "$dir"
    q -c "CREATE DATABASE $db TEMPLATE tmpl STRATEGY FILE_COPY"
    q -c "CHECKPOINT"
    load=$(cut -d' ' -f1 /proc/loadavg)
    log "run $run: $name ${args:+($args)} load $load"
    start_workload "$dir/wl" "$db" "$ROWS"
    sleep "$LEAD"
    day=$(date -u +%F)
    rc=0
    t0=$(now)
    if [[ $name == none ]]; then
      sleep 15
    else
      # shellcheck disable=SC2086
      PGDATABASE=$db "$SC" --table orders --execute --drop-old-table --socket none $args \
        >"$dir/stdout" 2>"$dir/stderr" || rc=$?
    fi
    t1=$(now)
    sleep "$LEAD"
    stop_workload "$dir/wl"
    all=$($REPORT lat "$t0" "$t1" "$dir"/wl/lat.*)
    copy='{}' idx='{}' summary=null
    if [[ $name != none ]]; then
      c0=$(phase_time "$dir/stderr" copy "$day" "$t0")
      i0=$(phase_time "$dir/stderr" indexes "$day" "$t1")
      k0=$(phase_time "$dir/stderr" catchup "$day" "$t1")
      copy=$($REPORT lat "$c0" "$i0" "$dir"/wl/lat.*)
      idx=$($REPORT lat "$i0" "$k0" "$dir"/wl/lat.*)
      summary=$(tail -n 1 "$dir/stdout" | jq -c '.summary // null' 2>/dev/null || echo null)
      [[ $rc == 0 ]] || log "  FAILED (rc $rc): $(tail -3 "$dir/stderr" | tr '\n' ' ')"
    fi
    pgs=$($REPORT pgbench-summary "$dir/wl/pgbench.out" "$dir/wl/pgbench.err")
    jq -nc --arg name "$name" --arg args "$args" --argjson run "$run" --argjson rc "$rc" \
      --argjson wall "$(python3 -c "print(round($t1 - $t0, 2))")" --argjson all "$all" \
      --argjson copy "$copy" --argjson idx "$idx" --argjson summary "$summary" --argjson pgs "$pgs" \
      --arg load "$load" --argjson order "$order" \
      '{name: $name, args: $args, order: $order, run: $run, ok: ($rc == 0), wall: $wall, load: $load,
        p50: $all.p50, p99: $all.p99, max: $all.max, n: $all.n, copy_p99: $copy.p99,
        index_p99: $idx.p99, copy_s: $summary.copy_s, failed: ($pgs.failed + $pgs.aborted)}' \
      >>"$WORK/results.jsonl"
    log "  => $(tail -n 1 "$WORK/results.jsonl")"
    q -c "DROP DATABASE $db WITH (FORCE)"
  done
done

MEM=$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
{
  echo "### Run of $(date -u +%Y-%m-%dT%H:%M:%SZ) (tag \`$TAG\`)"
  echo
  echo '```'
  echo "$ORIG_CMD"
  echo '```'
  echo
  echo "- machine: $(nproc) cores, $MEM, shared with other builds and tests (load avg per run below); shadowcopy \`$SC_VERSION\`"
  echo "- $ROWS-row \`orders\` rebuilt (\`--execute --drop-old-table\`) under pgbench -R $RATE -c 2 (UPDATE 60% / INSERT 20% / DELETE 20%, as scripts/bench); latencies of the transactions overlapping shadowcopy's wall interval (\`none\`: a 15 s window without a migration); copy p99 / index p99: inside its copy and its index-build phases"
  echo
  echo "Median over the runs (each run's figures below):"
  echo
  echo "| config | shadowcopy args | runs | wall s | copy s | p50 ms | p99 ms | max ms | copy p99 ms | index p99 ms | failed |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|"
  jq -s -r 'def med: map(select(. != null)) | sort | if length == 0 then "–" else (if length % 2 == 1 then .[length / 2 | floor] else (.[length / 2 - 1] + .[length / 2]) / 2 end | . * 10 | round / 10) end;
    group_by(.order) | .[] | "| \(.[0].name) | `\(if .[0].args == "" then "(none)" else .[0].args end)` | \(length) | \(map(.wall) | med) | \(map(.copy_s) | med) | \(map(.p50) | med) | \(map(.p99) | med) | \(map(.max) | med) | \(map(.copy_p99) | med) | \(map(.index_p99) | med) | \(map(.failed) | add) |"' \
    "$WORK/results.jsonl"
  echo
  echo "| config | shadowcopy args | run | wall s | copy s | p50 ms | p99 ms | max ms | copy p99 ms | index p99 ms | failed | load avg |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
  jq -r '"| \(.name) | `\(if .args == "" then "(none)" else .args end)` | \(.run) | \(.wall) | \(.copy_s // "–") | \(.p50 // "–" | if type == "number" then (. * 10 | round / 10) else . end) | \(.p99 // "–" | if type == "number" then (. * 10 | round / 10) else . end) | \(.max // "–" | if type == "number" then (. * 10 | round / 10) else . end) | \(.copy_p99 // "–" | if type == "number" then (. * 10 | round / 10) else . end) | \(.index_p99 // "–" | if type == "number" then (. * 10 | round / 10) else . end) | \(.failed) | \(.load) |"' \
    <(jq -s -c 'sort_by(.order, .run) | .[]' "$WORK/results.jsonl")
  echo
  echo "<details><summary>raw results (JSON lines)</summary>"
  echo
  echo '```'
  cat "$WORK/results.jsonl"
  echo '```'
  echo "</details>"
} >"$WORK/section.md"
$REPORT splice "$RESULTS" "$TAG" "$WORK/section.md"
cat "$WORK/section.md"
log "written to $RESULTS (section $TAG)"
