#!/usr/bin/env bash
# The application's health signal against a heavy hot-key write workload:
# pgbench at a fixed rate (-R) from several clients updating a few hundred
# hot keys of a ~200k-row table (and, now and then, a 2000-row range)
# while shadowcopy rebuilds the table, once with --health-signal on and once
# off, back to back, RUNS times; plus a window with no migration. Prints
# per run: the workload's worst schedule lag, p99 and max latency over the
# rewrite's wall interval, and the rewrite's wall time.
#
#   benchmarks/health_signal.sh [--rows 200000] [--rate 500] [--clients 8]
#       [--runs 2] [--bin PATH] [--extra "shadowcopy args"]
#
# Runs against the server of the PG* environment (a throwaway one:
# scripts/lib/pg.sh's pg_start); creates and drops databases hs_tmpl, hs_*.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
ROWS=200000 RATE=500 CLIENTS=8 RUNS=2 BIN=$ROOT/build/cli/shadowcopy EXTRA="" LEAD=4 TAIL=2
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rows) ROWS=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    --clients) CLIENTS=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --bin) BIN=$2; shift 2 ;;
    --extra) EXTRA=$2; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "health_signal.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
PGBENCH=$(command -v pgbench || echo /usr/lib/postgresql/15/bin/pgbench)
WORK=$(mktemp -d /tmp/sc-health.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
q() { psql -qAtX -v ON_ERROR_STOP=1 "$@"; }
log() { printf '[health %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

cat >"$WORK/hot.sql" <<'SQL'
\set id random(1, 500)
UPDATE orders SET amount = amount + 1, updated = now() WHERE id = :id;
SQL
cat >"$WORK/bulk.sql" <<'SQL'
\set s random(1, 190000)
UPDATE orders SET amount = amount + 1 WHERE id BETWEEN :s AND :s + 2000;
SQL

q -d postgres -c "DROP DATABASE IF EXISTS hs_tmpl" >/dev/null
q -d postgres -c "CREATE DATABASE hs_tmpl"
q -d hs_tmpl -c "CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int NOT NULL, amount bigint NOT NULL DEFAULT 0,
  updated timestamptz NOT NULL DEFAULT now(), note text)" \
  -c "INSERT INTO orders (customer_id, note) SELECT g % 1000, repeat(md5(g::text), 3) FROM generate_series(1, $ROWS) g" \
  -c "CREATE INDEX ON orders (customer_id)"
q -d hs_tmpl -c "VACUUM ANALYZE orders"

# The window [t0, t1] of a pgbench log set: "worst_lag_ms p99_ms max_ms n".
stats() {
  python3 - "$1" "$2" "$WORK/$3"/pgbench_log.* <<'PY'
import sys
t0, t1 = float(sys.argv[1]), float(sys.argv[2])
lat, lag = [], []
for f in sys.argv[3:]:
    for line in open(f):
        p = line.split()
        if len(p) < 7: continue
        end = int(p[4]) + int(p[5]) / 1e6
        if t0 <= end <= t1:
            lat.append(int(p[2]) / 1000.0); lag.append(int(p[6]) / 1000.0)
lat.sort()
n = len(lat)
p99 = lat[min(n - 1, int(0.99 * n))] if n else 0
print(f"{max(lag) if lag else 0:.0f} {p99:.1f} {lat[-1] if n else 0:.0f} {n}")
PY
}

run() {  # $1 name, $2 signal (on|off|none), $3 run number
  local db=hs_${1}_$3 dir=$WORK/${1}_$3 t0 t1 rc=0
  mkdir -p "$dir"
  q -d postgres -c "CREATE DATABASE $db TEMPLATE hs_tmpl STRATEGY FILE_COPY"
  q -d postgres -c "CHECKPOINT"
  (cd "$dir" && exec "$PGBENCH" -n -c "$CLIENTS" -j 2 -R "$RATE" -T 600 -l \
     -f "$WORK/hot.sql@199" -f "$WORK/bulk.sql@1" "$db" >"$dir/pgbench.out" 2>&1) &
  local pgb=$!
  sleep "$LEAD"
  t0=$(date +%s.%N)
  if [[ $2 == none ]]; then
    sleep 10
  else
    # shellcheck disable=SC2086
    PGDATABASE=$db "$BIN" --table orders --execute --drop-old-table --socket none \
      --health-signal "$2" $EXTRA >"$dir/stdout" 2>"$dir/stderr" || rc=$?
  fi
  t1=$(date +%s.%N)
  sleep "$TAIL"
  kill -INT "$pgb" 2>/dev/null || true
  wait "$pgb" 2>/dev/null || true
  local throttled
  throttled=$(grep -c "throttle: application latency" "$dir/stderr" 2>/dev/null || true)
  printf '%-5s run %d rc %d wall %6.1f s  worst_lag/p99/max(ms)/n: %s  health-throttle spells: %s  load %s\n' \
    "$1" "$3" "$rc" "$(python3 -c "print($t1 - $t0)")" "$(stats "$t0" "$t1" "${1}_$3")" "${throttled:-0}" \
    "$(cut -d' ' -f1 /proc/loadavg)"
  [[ $rc == 0 ]] || tail -3 "$dir/stderr" >&2
  grep -m1 "health baseline" "$dir/stderr" >&2 || true
  q -d postgres -c "DROP DATABASE $db WITH (FORCE)"
}

log "$ROWS rows, pgbench -R $RATE -c $CLIENTS (hot-key updates on 500 keys, 1 in 200 a 2000-row range)"
for r in $(seq 1 "$RUNS"); do
  run none none "$r"
  run on on "$r"
  run off off "$r"
done
q -d postgres -c "DROP DATABASE hs_tmpl"
