#!/usr/bin/env bash
# Throwaway PostgreSQL 15 server for tests and development. Source this file,
# then call pg_start / pg_stop. Safe under `set -euo pipefail`.
#
#   pg_start           initdb + start a private server in a fresh `mktemp -d`
#                      under /tmp (unix socket only, wal_level=logical) and export
#                        PGHOST      socket directory
#                        PGPORT      port (only names the socket file)
#                        PGUSER      postgres
#                        PGDATABASE  postgres
#                        SC_PG_DIR   the temp dir (data/, sock/, server.log)
#                        SC_PG_LOG   the server log file
#                      Prints one line on stderr saying where it runs.
#   pg_start_bench     pg_start of a fresh server (never one already running)
#                      with the benchmarks' settings, the same for every
#                      method: shared_buffers 1GB, max_wal_size 8GB, ...
#   pg_stop [--show-log] [--keep-log FILE] [DIR]
#                      Stop the server in DIR (default $SC_PG_DIR): fast
#                      shutdown, immediate if that hangs; then remove DIR.
#                      --show-log prints the last $SC_PG_LOG_LINES (50) log
#                      lines on stderr, --keep-log copies the log to FILE first.
#                      Calling it twice, or with nothing running, is fine.
#
# Knobs: SC_PG_BIN (default /usr/lib/postgresql/15/bin), SC_PG_PORT (default
# 55432: the server listens on no TCP port and the socket directory is private,
# so any port is free), SC_PG_START_TIMEOUT (seconds, default 60).
#
# PostgreSQL refuses to run as root: as root, initdb and pg_ctl run as the
# `postgres` OS user and the temp dir is chowned to it.

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  echo "scripts/lib/pg.sh is a library: source it, then call pg_start / pg_stop" >&2
  exit 2
fi

_sc_pg_bin() { printf '%s\n' "${SC_PG_BIN:-/usr/lib/postgresql/15/bin}"; }

# Runs "$@" as the user that owns the server, from a directory it can read
# (initdb and pg_ctl fail when the current directory is not accessible,
# e.g. /root).
_sc_pg_as_owner() {
  local dir=$1
  shift
  if [[ ${EUID} -eq 0 ]]; then
    (cd "${dir}" && runuser -u postgres -- "$@")
  else
    (cd "${dir}" && "$@")
  fi
}

_sc_pg_log_tail() {
  local log=$1 lines=${SC_PG_LOG_LINES:-50}
  if [[ -f ${log} ]]; then
    echo "---- last ${lines} lines of PostgreSQL log ${log} ----" >&2
    tail -n "${lines}" "${log}" >&2 || true
    echo "---- end of PostgreSQL log ----" >&2
  fi
}

_sc_pg_write_conf() {
  local dir=$1 port=$2
  cat >>"${dir}/data/postgresql.conf" <<EOF

# ---- shadowcopy test server ----
listen_addresses = ''
port = ${port}
unix_socket_directories = '${dir}/sock'
unix_socket_permissions = 0777
max_connections = 200
shared_buffers = 256MB
wal_level = logical
max_replication_slots = 20
max_wal_senders = 20
wal_sender_timeout = 60s
fsync = on
logging_collector = off
log_destination = 'stderr'
log_min_messages = warning
log_line_prefix = '%m [%p] %q%u@%d '
log_lock_waits = on
EOF
}

pg_start() {
  local bin port timeout dir
  bin=$(_sc_pg_bin)
  port=${SC_PG_PORT:-55432}
  timeout=${SC_PG_START_TIMEOUT:-60}

  if [[ -n ${SC_PG_DIR:-} && -f ${SC_PG_DIR}/data/postmaster.pid ]]; then
    echo "pg_start: already running in ${SC_PG_DIR} (PGHOST=${PGHOST:-})" >&2
    return 0
  fi
  if [[ ! -x ${bin}/initdb ]]; then
    echo "pg_start: ${bin}/initdb not found; run scripts/setup" >&2
    return 1
  fi
  if [[ ${EUID} -eq 0 ]] && ! id -u postgres >/dev/null 2>&1; then
    echo "pg_start: running as root but there is no 'postgres' OS user" >&2
    return 1
  fi

  dir=$(mktemp -d /tmp/shadowcopy-pg.XXXXXX) || return 1
  : >"${dir}/.shadowcopy-pg"   # marker: pg_stop removes only such dirs
  mkdir -p "${dir}/sock"
  : >"${dir}/server.log"
  chmod 0755 "${dir}" "${dir}/sock"
  if [[ ${EUID} -eq 0 ]]; then
    chown -R postgres: "${dir}" || { rm -rf "${dir}"; return 1; }
  fi

  if ! _sc_pg_as_owner "${dir}" "${bin}/initdb" -D "${dir}/data" -A trust \
      -U postgres --encoding=UTF8 --locale=C.UTF-8 --no-sync --no-instructions \
      >"${dir}/initdb.log" 2>&1; then
    echo "pg_start: initdb failed:" >&2
    cat "${dir}/initdb.log" >&2 || true
    rm -rf "${dir}"
    return 1
  fi
  _sc_pg_write_conf "${dir}" "${port}"

  if ! _sc_pg_as_owner "${dir}" "${bin}/pg_ctl" -D "${dir}/data" \
      -l "${dir}/server.log" -w -t "${timeout}" start >/dev/null; then
    echo "pg_start: server did not start" >&2
    _sc_pg_log_tail "${dir}/server.log"
    pg_stop "${dir}" || true
    return 1
  fi

  local waited=0
  until "${bin}/pg_isready" -q -h "${dir}/sock" -p "${port}" -U postgres -d postgres; do
    if ((waited >= timeout)); then
      echo "pg_start: server not ready after ${timeout}s" >&2
      pg_stop --show-log "${dir}" || true
      return 1
    fi
    sleep 1
    waited=$((waited + 1))
  done

  export SC_PG_DIR=${dir}
  export SC_PG_LOG=${dir}/server.log
  export PGHOST=${dir}/sock
  export PGPORT=${port}
  export PGUSER=postgres
  export PGDATABASE=postgres
  echo "PostgreSQL 15 running: PGHOST=${PGHOST} PGPORT=${PGPORT} PGUSER=postgres (log ${SC_PG_LOG})" >&2
}

pg_stop() {
  local show_log=0 keep_log='' dir=''
  while (($# > 0)); do
    case $1 in
      --show-log) show_log=1 ;;
      --keep-log) keep_log=${2:?--keep-log needs a file}; shift ;;
      -*) echo "pg_stop: unknown option $1" >&2; return 2 ;;
      *) dir=$1 ;;
    esac
    shift
  done
  dir=${dir:-${SC_PG_DIR:-}}
  if [[ -z ${dir} || ! -d ${dir} ]]; then
    return 0   # nothing to stop (already stopped, or never started)
  fi
  if [[ ! -e ${dir}/.shadowcopy-pg ]]; then
    echo "pg_stop: ${dir} was not made by pg_start; not touching it" >&2
    return 1
  fi

  local bin
  bin=$(_sc_pg_bin)
  if [[ -f ${dir}/data/postmaster.pid ]]; then
    if ! _sc_pg_as_owner "${dir}" "${bin}/pg_ctl" -D "${dir}/data" -m fast -w -t 30 \
        stop >/dev/null 2>&1; then
      _sc_pg_as_owner "${dir}" "${bin}/pg_ctl" -D "${dir}/data" -m immediate -w -t 30 \
        stop >/dev/null 2>&1 || true
    fi
    # Last resort: the postmaster we started, by its pid.
    if [[ -f ${dir}/data/postmaster.pid ]]; then
      local pid
      pid=$(head -n 1 "${dir}/data/postmaster.pid" 2>/dev/null || true)
      if [[ ${pid} =~ ^[0-9]+$ ]] && kill -0 "${pid}" 2>/dev/null; then
        echo "pg_stop: pg_ctl could not stop postmaster ${pid}; killing it" >&2
        kill -KILL "${pid}" 2>/dev/null || true
        sleep 1
      fi
    fi
  fi

  if [[ -n ${keep_log} && -f ${dir}/server.log ]]; then
    cp "${dir}/server.log" "${keep_log}" || true
  fi
  if ((show_log)); then
    _sc_pg_log_tail "${dir}/server.log"
  fi
  rm -rf "${dir}"

  if [[ ${SC_PG_DIR:-} == "${dir}" ]]; then
    if [[ ${PGHOST:-} == "${dir}/sock" ]]; then
      unset PGHOST PGPORT PGUSER PGDATABASE
    fi
    unset SC_PG_DIR SC_PG_LOG
  fi
  return 0
}

pg_start_bench() {
  unset SC_PG_DIR
  pg_start || return 1
  cat >>"${SC_PG_DIR}/data/postgresql.conf" <<EOF
# ---- benchmarks: the same for every method ----
shared_buffers = 1GB
max_wal_size = 8GB
min_wal_size = 1GB
checkpoint_timeout = 30min
maintenance_work_mem = 256MB
log_lock_waits = off
EOF
  _sc_pg_as_owner "${SC_PG_DIR}" "$(_sc_pg_bin)/pg_ctl" -D "${SC_PG_DIR}/data" -l "${SC_PG_LOG}" -w restart >/dev/null
}
