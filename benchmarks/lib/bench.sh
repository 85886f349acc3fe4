#!/usr/bin/env bash
# What the benchmark scripts share: a private work directory with a private
# copy of the binary, the psql and clock helpers, the template database of
# benchmarks/orders_schema.sql and the cleanup at exit. Source this file
# after scripts/lib/pg.sh; it needs $ROOT (the repository).
#
#   bench_workdir PREFIX BIN   WORK (a fresh /tmp/PREFIX.XXXXXX, mode 0755),
#                              SC (a copy of BIN in it: a rebuild of the
#                              tree cannot change it mid-run), SC_VERSION
#   q ARGS...                  psql, quiet, unaligned, stopping on errors
#   now                        epoch seconds with nanoseconds
#   bench_load_template ROWS   database tmpl holding ROWS orders, closed to
#                              connections (a template for each run's copy)
#   bench_cleanup              pg_stop, the logs copied to $KEEP_LOGS when
#                              set, WORK removed

bench_workdir() {
  WORK=$(mktemp -d "/tmp/$1.XXXXXX")
  chmod 0755 "$WORK"
  cp "$2" "$WORK/shadowcopy"
  SC=$WORK/shadowcopy
  # shellcheck disable=SC2034  # used by the scripts that source this
  SC_VERSION="$("$SC" --version 2>&1 | head -1) @ $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD -- engine cdc cli common throttler 2>/dev/null || echo '+dirty')"
}

q() { psql -qAtX -v ON_ERROR_STOP=1 "$@"; }
now() { date +%s.%N; }

bench_load_template() {
  q -c "CREATE DATABASE tmpl"
  PGDATABASE=tmpl q -v rows="$1" -f "$ROOT/benchmarks/orders_schema.sql" >/dev/null
  q -c "ALTER DATABASE tmpl WITH ALLOW_CONNECTIONS false"
}

bench_cleanup() {
  pg_stop
  if [[ -n ${KEEP_LOGS:-} ]]; then { mkdir -p "$KEEP_LOGS" && cp -r "$WORK"/. "$KEEP_LOGS"/; } || true; fi
  rm -rf "$WORK"
}
