#!/usr/bin/env bash
# Replay throughput and memory under a backlog. Starts a throwaway PostgreSQL 15
# with scripts/bench's settings, loads N rows of the benchmark's orders table,
# runs shadowcopy with --postpone-cutover, and once the copy is done holds the
# replay back (`ctl pause --replay`) while pgbench commits a burst of B
# single-row UPDATEs (one transaction each, random keys). Then it releases the
# replay and times the catch-up: changes applied per second, from `resume`
# until every burst change is applied. Prints shadowcopy's resident memory
# before the burst, with the backlog waiting, and its peak over the run.
#
#   benchmarks/replay_burst.sh [--rows 200000] [--burst 500000] [--clients 2]
#                              [--bin build/cli/shadowcopy] [-- SHADOWCOPY ARGS]
#
# Prints one `result:` line of JSON at the end. KEEP_WORK=DIR copies
# shadowcopy's stdout and stderr into DIR before the temp dir is removed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=200000
BURST=500000
CLIENTS=2
BIN=$(pwd)/build/cli/shadowcopy
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rows) ROWS=$2; shift 2 ;;
    --burst) BURST=$2; shift 2 ;;
    --clients) CLIENTS=$2; shift 2 ;;
    --bin) BIN=$2; shift 2 ;;
    --) shift; break ;;
    *) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done
SC_EXTRA=("$@")
PGBIN=/usr/lib/postgresql/15/bin
WORK=$(mktemp -d /tmp/sc-burst.XXXXXX)
chmod 0755 "$WORK"
cp "$BIN" "$WORK/shadowcopy"
SC=$WORK/shadowcopy
SOCK=$WORK/sc.sock
log() { printf '[burst %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

# shellcheck source=../scripts/lib/pg.sh
source scripts/lib/pg.sh
SC_PID=""
finish() {
  local rc=$?
  [[ -n $SC_PID ]] && kill "$SC_PID" 2>/dev/null && wait "$SC_PID" 2>/dev/null
  pg_stop || true
  if [[ -n ${KEEP_WORK:-} ]]; then mkdir -p "$KEEP_WORK" && cp "$WORK/stdout" "$WORK/stderr" "$KEEP_WORK"/ 2>/dev/null || true; fi
  rm -rf "$WORK"
  exit $rc
}
trap finish EXIT
pg_start_bench
psql -qAtX -c "CREATE DATABASE b"
export PGDATABASE=b
grep -v 'CREATE EXTENSION' benchmarks/orders_schema.sql >"$WORK/schema.sql"
log "loading $ROWS rows"
psql -qAtX -v ON_ERROR_STOP=1 -v rows="$ROWS" -f "$WORK/schema.sql" >/dev/null
psql -qAtX -c "CHECKPOINT"

status() { "$SC" ctl --socket "$SOCK" status --json 2>/dev/null || true; }
field() { python3 -c 'import json,sys; d=json.loads(sys.stdin.read() or "{}"); print(d.get(sys.argv[1], ""))' "$1"; }
rss_kb() { awk -v k="$1" '$1 == k":" {print $2}' "/proc/$SC_PID/status" 2>/dev/null || echo 0; }

log "starting shadowcopy (postponed cutover)"
/usr/bin/time -v -o "$WORK/time" "$SC" --table orders --execute --drop-old-table --postpone-cutover \
  --socket "$SOCK" "${SC_EXTRA[@]}" >"$WORK/stdout" 2>"$WORK/stderr" &
TIME_PID=$!
for _ in $(seq 600); do
  SC_PID=$(pgrep -f "^$SC " | head -1 || true)
  [[ -n $SC_PID && $(status | field phase) == postponed ]] && break
  sleep 0.5
done
[[ $(status | field phase) == postponed ]] || { log "shadowcopy never reached the postponed cutover"; tail -20 "$WORK/stderr" >&2; exit 1; }
"$SC" ctl --socket "$SOCK" pause --replay >/dev/null
base=$(status | field changes_replayed)
rss_before=$(rss_kb VmRSS)

cat >"$WORK/burst.sql" <<'EOF'
\set id random(1, :maxid)
UPDATE orders SET amount = amount + 1, status = 'paid' WHERE id = :id;
EOF
log "committing $BURST single-row updates with the replay held back"
b0=$(date +%s.%N)
PGOPTIONS='-c synchronous_commit=off' "$PGBIN/pgbench" -n -M prepared -c "$CLIENTS" -j "$CLIENTS" \
  -t $((BURST / CLIENTS)) -D maxid="$ROWS" -f "$WORK/burst.sql" >"$WORK/pgbench.log" 2>&1
b1=$(date +%s.%N)
sleep 2
rss_backlog=$(rss_kb VmRSS)
slot_lag=$(psql -qAtX -c "SELECT pg_size_pretty(pg_current_wal_lsn() - confirmed_flush_lsn) FROM pg_replication_slots WHERE slot_name LIKE 'shadowcopy%'")

log "releasing the replay (backlog: $slot_lag of WAL behind the slot)"
target=$((base + BURST))
t0=$(date +%s.%N)
"$SC" ctl --socket "$SOCK" resume >/dev/null
while :; do
  s=$(status)
  n=$(field changes_replayed <<<"$s")
  q=$(field queue_depth <<<"$s")
  [[ -n $n && $n -ge $target && $q == 0 ]] && break
  kill -0 "$SC_PID" 2>/dev/null || { log "shadowcopy exited"; tail -20 "$WORK/stderr" >&2; exit 1; }
  sleep 0.05
done
t1=$(date +%s.%N)
rss_peak=$(rss_kb VmHWM)
"$SC" ctl --socket "$SOCK" cutover >/dev/null
wait "$TIME_PID" || { log "shadowcopy failed"; tail -20 "$WORK/stderr" >&2; exit 1; }
SC_PID=""
python3 - "$BURST" "$b0" "$b1" "$t0" "$t1" "$rss_before" "$rss_backlog" "$rss_peak" "$slot_lag" <<'EOF'
import json, sys
burst, b0, b1, t0, t1 = int(sys.argv[1]), *map(float, sys.argv[2:6])
before, backlog, peak = (int(x or 0) / 1024 for x in sys.argv[6:9])
r = {"burst": burst, "burst_s": round(b1 - b0, 2), "catchup_s": round(t1 - t0, 2),
     "changes_per_s": round(burst / (t1 - t0)), "rss_mib_before": round(before, 1),
     "rss_mib_with_backlog": round(backlog, 1), "rss_mib_peak": round(peak, 1),
     "backlog_wal": sys.argv[9]}
print("result: " + json.dumps(r))
EOF
