#!/usr/bin/env bash
# Where does a shadowcopy run spend its CPU? Starts a throwaway PostgreSQL 15
# with scripts/bench's settings, loads N rows of the benchmark's orders table,
# runs shadowcopy once (idle) while sampling every process's CPU time each
# 0.5 s, and prints CPU seconds per role: the client, the copy/apply backends,
# the walsender (logical decoding of ALL WAL, the copy's own included), the
# checkpointer/walwriter/background writer, autovacuum. Also prints the
# shadowcopy phase lines from its log.
#
#   benchmarks/cpu_breakdown.sh [--rows 2000000] [--bin build/cli/shadowcopy] [-- SHADOWCOPY ARGS]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
ROWS=2000000
BIN=$ROOT/build/cli/shadowcopy
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rows) ROWS=$2; shift 2 ;;
    --bin) BIN=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "usage: benchmarks/cpu_breakdown.sh [--rows N] [--bin PATH] [-- ARGS]" >&2; exit 2 ;;
  esac
done
SC_EXTRA=("$@")
PGBIN=/usr/lib/postgresql/15/bin
WORK=$(mktemp -d /tmp/sc-cpu.XXXXXX)
cp "$BIN" "$WORK/shadowcopy"
# shellcheck source=../scripts/lib/pg.sh
source scripts/lib/pg.sh
trap 'pg_stop; rm -rf "$WORK"' EXIT
pg_start_bench
psql -qAtX -c "CREATE DATABASE b"
export PGDATABASE=b
psql -qAtX -v ON_ERROR_STOP=1 -v rows="$ROWS" -f benchmarks/orders_schema.sql >/dev/null
psql -qAtX -c "CHECKPOINT"

POSTMASTER=$(head -1 "$SC_PG_DIR/data/postmaster.pid")
TCK=$(getconf CLK_TCK)
sample() {  # pid cputicks role, for the postmaster's children and shadowcopy
  for p in $(pgrep -P "$POSTMASTER") $(pgrep -f "$WORK/shadowcopy" || true); do
    [[ -r /proc/$p/stat ]] || continue
    local st cmd
    st=$(cut -d' ' -f14,15 "/proc/$p/stat" 2>/dev/null) || continue
    cmd=$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | cut -c1-80) || continue
    echo "$p ${st/ /+} $cmd"
  done
}
: >"$WORK/samples"
(
  while [[ ! -f $WORK/done ]]; do
    sample >>"$WORK/samples"
    echo "--" >>"$WORK/samples"
    sleep 0.5
  done
) &
SAMPLER=$!
t0=$(date +%s.%N)
/usr/bin/time -v -o "$WORK/time" "$WORK/shadowcopy" --table orders --execute --drop-old-table \
  "${SC_EXTRA[@]}" >"$WORK/stdout" 2>"$WORK/stderr"
t1=$(date +%s.%N)
touch "$WORK/done"
wait "$SAMPLER"
echo "== shadowcopy ${SC_EXTRA[*]} on $ROWS rows: wall $(python3 -c "print(round($t1-$t0,2))") s"
tail -1 "$WORK/stdout"
grep -E "phase|built index|copied|cutover|blocked" "$WORK/stderr" | cut -c1-200 | head -30 || true
echo "== client: $(awk -F': ' '/User time/ {u=$2} /System time/ {s=$2} /Maximum resident/ {r=$2} END {printf "user %s s, sys %s s, peak RSS %.1f MiB", u, s, r/1024}' "$WORK/time")"
echo "== CPU seconds per server process during the run (last sample of each pid)"
python3 - "$WORK/samples" "$TCK" <<'EOF'
import sys, re, collections
path, tck = sys.argv[1], int(sys.argv[2])
last, first, rnd = {}, {}, 0
for line in open(path):
    line = line.rstrip("\n")
    if line == "--":
        rnd += 1
        continue
    if not line:
        continue
    pid, ticks, cmd = line.split(" ", 2)
    u, s = ticks.split("+")
    sec = (int(u) + int(s)) / tck
    if pid not in first:
        first[pid] = sec if rnd == 0 else 0.0  # present at the start: count the delta
    last[pid] = (sec - first[pid], cmd)
roles = collections.defaultdict(float)
for pid, (sec, cmd) in last.items():
    if "shadowcopy" in cmd and "postgres:" not in cmd:
        continue  # the client is reported by /usr/bin/time
    m = re.match(r"postgres: (\S+(?: \S+)?)", cmd)
    role = cmd
    if "walsender" in cmd:
        role = "walsender (logical decoding)"
    elif m:
        role = re.sub(r"\s+\S*\[local\].*", "", cmd).replace("postgres: ", "")
        if re.match(r"postgres b", role):
            role = "backends of db b (copy, apply, catalog)"
    roles[role] += sec
for role, sec in sorted(roles.items(), key=lambda kv: -kv[1]):
    if sec >= 0.05:
        print(f"  {sec:7.2f} s  {role}")
EOF
