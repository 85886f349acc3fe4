#!/usr/bin/env bash
# The heavy benchmark's write shapes as pgbench arguments, shared by
# benchmarks/heavy_writes.sh and benchmarks/block_tail.sh. Source it; it
# needs $ROOT (the repository) and $ROWS (the table's rows), read when called.
#
#   shape_args SHAPE       the shape's sessions at the fixed rate (the caller
#                          adds -R, -T and logging)
#   shape_big_args SHAPE   its large transactions, one `pgbench -t 1` each
#                          every $BIG_INTERVAL s on a session of their own
#                          (empty for a shape without them)

BIG_INTERVAL=2

shape_args() {  # $1 shape
  local h=$ROOT/benchmarks/heavy b=$ROOT/benchmarks
  case "$1" in
    hot) echo "-c 8 -j 2 -D hot=100 -f $h/hot_update.sql" ;;
    bigtx | hightps)
      echo "-c 4 -j 2 -D maxid=$ROWS -f $b/wl_update.sql@60 -f $b/wl_insert.sql@20 -f $b/wl_delete.sql@20" ;;
  esac
}

shape_big_args() {  # $1 shape
  case "$1" in bigtx) echo "-D maxid=$ROWS -D bigrows=5000 -f $ROOT/benchmarks/heavy/big_update.sql" ;; esac
}
