#!/usr/bin/env bash
# The benchmarks' write workload: pgbench with 2 clients at a fixed rate
# ($RATE tps), 60% UPDATE / 20% INSERT / 20% DELETE by random key
# (benchmarks/wl_*.sql), synchronous_commit=off, in rounds of $ROUND seconds
# with a per-transaction latency log. Source this file; it needs $ROOT (the
# repository), $PGBENCH, $RATE, $ROUND and an array WL_PIDS.
#
#   start_workload DIR DB MAXID   runs until stop_workload DIR; latency logs
#                                 DIR/lat.K.*, output DIR/pgbench.{out,err}
#   stop_workload DIR             ends it between rounds and waits
#
# pgbench prints its summary (failed transactions) only when it ends by
# itself, so it is never killed: each round ends by -T and the loop stops
# between rounds.

start_workload() {
  local dir=$1 db=$2 maxid=$3
  mkdir -p "$dir"
  rm -f "$dir/stop"
  (
    k=0
    while [[ ! -f $dir/stop ]]; do
      k=$((k + 1))
      PGDATABASE=$db PGOPTIONS="-c synchronous_commit=off" "$PGBENCH" -n -c 2 -j 1 -R "$RATE" -T "$ROUND" \
        -D maxid="$maxid" -f "$ROOT/benchmarks/wl_update.sql@60" -f "$ROOT/benchmarks/wl_insert.sql@20" \
        -f "$ROOT/benchmarks/wl_delete.sql@20" -l --log-prefix="$dir/lat.$k" \
        >>"$dir/pgbench.out" 2>>"$dir/pgbench.err" || echo "pgbench exited with $?" >>"$dir/pgbench.err"
    done
  ) &
  WL_PIDS+=($!)
}

stop_workload() {
  touch "$1/stop"
  for p in "${WL_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  WL_PIDS=()
}
