#!/usr/bin/env bash
# Isolates the cost of each ingredient of shadowcopy's copy phase, server-side
# only (no shadowcopy involved), on N rows of the benchmark's orders table:
#   A  one INSERT ... SELECT into a key-only copy              (the floor's copy)
#   B  A + ON CONFLICT (id) DO NOTHING                          (speculative insertion)
#   C  B in batches of CHUNK key-range rows, one COMMIT each    (shadowcopy's batches)
#   D  C while a pgoutput walsender decodes the WAL (slot + publication on
#      orders only, consumed by pg_recvlogical)                 (what shadowcopy runs under)
# Each variant starts from a fresh copy table after a CHECKPOINT.
#
#   benchmarks/copy_variants.sh [--rows 2000000] [--chunk 10000]
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=2000000
CHUNK=10000
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rows) ROWS=$2; shift 2 ;;
    --chunk) CHUNK=$2; shift 2 ;;
    *) echo "usage: benchmarks/copy_variants.sh [--rows N] [--chunk N]" >&2; exit 2 ;;
  esac
done
PGBIN=/usr/lib/postgresql/15/bin
# shellcheck source=../scripts/lib/pg.sh
source scripts/lib/pg.sh
RECV=""
trap '[[ -n $RECV ]] && kill "$RECV" 2>/dev/null; wait 2>/dev/null; pg_stop' EXIT
pg_start_bench
psql -qAtX -c "CREATE DATABASE b"
export PGDATABASE=b
q() { psql -qAtX -v ON_ERROR_STOP=1 "$@"; }
q -v rows="$ROWS" -f benchmarks/orders_schema.sql >/dev/null

fresh() { q -c "DROP TABLE IF EXISTS c; CREATE TABLE c (LIKE orders INCLUDING DEFAULTS); ALTER TABLE c ADD PRIMARY KEY (id); CHECKPOINT"; }
timeit() {  # label sql
  local t0 t1 w0 w1
  fresh
  w0=$(q -c "SELECT pg_current_wal_lsn()")
  t0=$(date +%s.%N)
  q -c "$2"
  t1=$(date +%s.%N)
  w1=$(q -c "SELECT pg_current_wal_lsn()")
  printf '%-60s %7.2f s  WAL %s\n' "$1" "$(python3 -c "print($t1 - $t0)")" \
    "$(q -c "SELECT pg_size_pretty(pg_wal_lsn_diff('$w1', '$w0'))")"
}
BATCHED="DO \$\$ DECLARE lo bigint := 0; hi bigint; BEGIN
  LOOP
    SELECT id INTO hi FROM orders WHERE id > lo ORDER BY id OFFSET $((CHUNK - 1)) LIMIT 1;
    INSERT INTO c SELECT * FROM ONLY orders o WHERE o.id > lo AND (hi IS NULL OR o.id <= hi)
      ON CONFLICT (id) DO NOTHING;
    COMMIT;
    EXIT WHEN hi IS NULL;
    lo := hi;
  END LOOP; END \$\$"

echo "== $ROWS rows, chunk $CHUNK, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
timeit "A  INSERT ... SELECT (one statement)" "INSERT INTO c SELECT * FROM orders"
timeit "B  + ON CONFLICT (id) DO NOTHING" "INSERT INTO c SELECT * FROM orders ON CONFLICT (id) DO NOTHING"
timeit "C  + batches of $CHUNK, COMMIT each" "$BATCHED"
q -c "CREATE PUBLICATION p FOR TABLE orders" \
  -c "SELECT pg_create_logical_replication_slot('s', 'pgoutput')" >/dev/null
"$PGBIN/pg_recvlogical" -d b --slot s --start -o proto_version=1 -o publication_names=p \
  -f /dev/null --no-loop >/dev/null 2>&1 &
RECV=$!
sleep 1
timeit "D  C + a pgoutput walsender decoding the WAL" "$BATCHED"
kill "$RECV" 2>/dev/null || true
wait "$RECV" 2>/dev/null || true
RECV=""
echo "== load $(cut -d' ' -f1-3 /proc/loadavg)"
