#!/usr/bin/env python3
"""Helpers of scripts/bench (no third-party modules).

  bench_report.py lat T0 T1 LOGFILE...        latency stats (JSON) of the pgbench
                                             transactions that overlap [T0, T1]
  bench_report.py pgbench-summary FILE...     failed transactions and aborted clients
  bench_report.py report RESULTS.jsonl CUTOVER.jsonl META.json
                                             the markdown section (stdout)
  bench_report.py micro BENCH.json            markdown table of Google Benchmark output
  bench_report.py blocks SUMMARIES.jsonl RATE ROWS
                                             how long writers waited on the consistency
                                             point and the cutover over block_tail.sh's
                                             runs, with the targets
  bench_report.py replay RESULTS.jsonl        replay_burst.sh's results, with the target
  bench_report.py splice FILE TAG SECTION     replace (or append) the section between
                                             <!-- bench:TAG:begin --> / end markers
"""
import json
import math
import re
import statistics
import sys


def pct(values, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    s = sorted(values)
    k = max(1, math.ceil(p / 100.0 * len(s)))
    return s[k - 1]


def cmd_lat(t0, t1, files):
    t0, t1 = float(t0), float(t1)
    lat = []
    failed = 0
    lag = 0.0
    for f in files:
        with open(f) as fh:
            for line in fh:
                parts = line.split()
                if len(parts) < 6:
                    continue
                # client_id transaction_no time script_no time_epoch time_us [lag] [retries]
                end = int(parts[4]) + int(parts[5]) / 1e6
                if parts[2] in ("failed", "skipped"):
                    if t0 <= end <= t1 + 5:
                        failed += 1
                    continue
                latency_us = int(parts[2])  # with -R: from the scheduled start
                start = end - latency_us / 1e6
                if end >= t0 and start <= t1:
                    lat.append(latency_us / 1000.0)
                    if len(parts) > 6 and parts[6].isdigit():  # schedule lag (-R)
                        lag = max(lag, int(parts[6]) / 1000.0)
    out = {"n": len(lat), "failed_in_log": failed}
    if lat:
        out.update(p50=pct(lat, 50), p99=pct(lat, 99), max=max(lat), max_lag=lag)
    print(json.dumps(out))


def cmd_pgbench_summary(files):
    failed = aborted = processed = 0
    for f in files:
        try:
            text = open(f, errors="replace").read()
        except OSError:
            continue
        for m in re.finditer(r"^number of failed transactions: (\d+)", text, re.M):
            failed += int(m.group(1))
        for m in re.finditer(r"^number of transactions actually processed: (\d+)", text, re.M):
            processed += int(m.group(1))
        aborted += len(re.findall(r"aborted in command|client \d+ aborted", text))
    print(json.dumps({"failed": failed, "aborted": aborted, "processed": processed}))


def fmt(v, digits=1):
    if v is None:
        return "–"
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return "–"
    if abs(v) >= 1000 and digits <= 1:
        return f"{v:,.0f}"
    return f"{v:.{digits}f}"


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


METHOD_ORDER = ["none", "floor", "alter", "vacuum_full", "repack", "sc_rebuild", "sc_alter", "sc_rebuild_nv",
                "sc_alter_nv"]
METHOD_LABEL = {
    "none": "none (workload only)",
    "floor": "floor: INSERT…SELECT + 2×CREATE INDEX",
    "alter": "offline ALTER TABLE … TYPE numeric",
    "vacuum_full": "VACUUM FULL",
    "repack": "pg_repack --table",
    "sc_rebuild": "shadowcopy rebuild",
    "sc_alter": "shadowcopy ALTER",
    "sc_rebuild_nv": "shadowcopy rebuild, verification off",
    "sc_alter_nv": "shadowcopy ALTER, verification off",
}


def cmd_report(results_path, cutover_path, meta_path):
    meta = json.load(open(meta_path))
    rows = [json.loads(l) for l in open(results_path) if l.strip()]
    try:
        cut = [json.loads(l) for l in open(cutover_path) if l.strip()]
    except OSError:
        cut = []
    out = []
    w = out.append
    w(f"### Run of {meta['date']} (tag `{meta['tag']}`)")
    w("")
    w("```")
    w(meta["command"])
    w("```")
    w("")
    w(f"- machine: {meta['nproc']} cores ({meta['cpu']}), {meta['mem']} memory; {meta['pg']}")
    w(f"- server settings (same for every method): {meta['settings']}")
    w(f"- shadowcopy: `{meta['sc_version']}`, extra args: `{meta['sc_args'] or '(none)'}`")
    w(f"- runs per cell: {meta['runs']}; workload: pgbench -R {meta['rate']} -c 2, "
      "single-row UPDATE 60% / INSERT 20% / DELETE 20% by random key, started "
      f"{meta['lead']} s before and stopped ≥ {meta['lead']} s after each method; latencies are of the "
      "transactions that overlap the method's wall interval (from the scheduled start, so "
      "queueing behind a lock counts); `none` = the same window length with no migration. "
      "pgbench runs in 5 s rounds (it prints failures only when it ends by itself): a round whose "
      "clients are blocked past its end never runs the transactions scheduled meanwhile, so for "
      "methods that block writers (offline ALTER, VACUUM FULL) p99 understates — read max, and "
      "`tx served / scheduled`. `load avg` is the machine's 1-min load when the method started "
      "(other work shares these 2 cores).")
    w("")
    sizes = sorted({r["rows"] for r in rows})
    targets = []
    for size in sizes:
        for wl in ("off", "on"):
            cell = [r for r in rows if r["rows"] == size and r["workload"] == wl]
            if not cell:
                continue
            by = {}
            for r in cell:
                by.setdefault(r["method"], []).append(r)
            agg = {}
            for m, rs in by.items():
                walls = [r["wall"] for r in rs if r.get("ok")]
                a = {
                    "n": len(rs),
                    "ok": all(r.get("ok") for r in rs),
                    "wall": med(walls),
                    "wmin": min(walls) if walls else None,
                    "wmax": max(walls) if walls else None,
                    "p50": med([r.get("p50") for r in rs]),
                    "p99": med([r.get("p99") for r in rs]),
                    "max": med([r.get("max") for r in rs]),
                    "max_lag": med([r.get("max_lag") for r in rs]),
                    "failed": sum((r.get("failed") or 0) + (r.get("aborted") or 0) for r in rs),
                    "rewrote": all(r.get("rewrote", True) for r in rs),
                    "served": med([r.get("n") / r["expected"] for r in rs
                                   if r.get("expected") and r.get("n") is not None]),
                    "load": med([float(r["loadavg"].split()[0]) for r in rs if r.get("loadavg")]),
                }
                sc = [r for r in rs if r.get("summary")]
                if sc:
                    a["copy_rps"] = med([r["summary"]["rows_copied"] / r["summary"]["copy_s"]
                                         for r in sc if r["summary"].get("copy_s")])
                    a["replayed"] = med([r["summary"].get("changes_replayed") for r in sc])
                    a["replay_ps"] = med([
                        r["summary"]["changes_replayed"] /
                        max(1e-9, r["summary"]["elapsed_s"] - r["summary"].get("copy_s", 0))
                        for r in sc if r["summary"].get("elapsed_s")])
                    a["blocked"] = med([r["summary"].get("blocked_ms") for r in sc])
                    a["copy_s"] = med([r["summary"].get("copy_s") for r in sc])
                if any(r.get("rss_kb") for r in rs):
                    a["rss"] = max(r.get("rss_kb") or 0 for r in rs) / 1024.0
                agg[m] = a
            rep = agg.get("repack", {}).get("wall")
            alt = agg.get("alter", {}).get("wall")
            rep99 = agg.get("repack", {}).get("p99")
            none99 = agg.get("none", {}).get("p99")
            w(f"#### {size:,} rows, workload {'on (500 tps)' if wl == 'on' else 'off (idle)'}")
            w("")
            if wl == "on":
                w("| method | wall s (min–max) | × pg_repack | × ALTER | p50 ms | p99 ms | max ms "
                  "| worst lag ms | p99 × pg_repack | p99 × none | failed | copy rows/s | replayed (chg/s after copy) "
                  "| blocked ms | peak RSS MiB | tx served / scheduled | load avg |")
                w("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
            else:
                w("| method | wall s (min–max) | × pg_repack | × ALTER | copy rows/s | copy s "
                  "| blocked ms | peak RSS MiB | load avg |")
                w("|---|---|---|---|---|---|---|---|---|")
            for m in METHOD_ORDER:
                if m not in agg:
                    continue
                a = agg[m]
                label = METHOD_LABEL[m]
                if not a["ok"]:
                    label += " **(FAILED run)**"
                if m == "alter" and not a["rewrote"]:
                    label += " (did NOT rewrite)"
                if m == "none":
                    wall = f"{fmt(a['wall'])} (window)"
                else:
                    wall = f"{fmt(a['wall'], 2)} ({fmt(a['wmin'], 2)}–{fmt(a['wmax'], 2)})"
                rr = "–" if m == "none" else fmt(ratio(a["wall"], rep), 2)
                ra = "–" if m == "none" else fmt(ratio(a["wall"], alt), 2)
                rss = fmt(a.get("rss"))
                if wl == "on":
                    repl = "–"
                    if a.get("replayed") is not None:
                        repl = f"{a['replayed']:,.0f} ({fmt(a.get('replay_ps'), 0)})"
                    w(f"| {label} | {wall} | {rr} | {ra} | {fmt(a['p50'])} | {fmt(a['p99'])} "
                      f"| {fmt(a['max'])} | {fmt(a.get('max_lag'))} | {fmt(ratio(a['p99'], rep99), 2)} "
                      f"| {fmt(ratio(a['p99'], none99), 2)} | {a['failed']} "
                      f"| {fmt(a.get('copy_rps'), 0) if a.get('copy_rps') else '–'} | {repl} "
                      f"| {fmt(a.get('blocked'))} | {rss} "
                      f"| {'–' if a.get('served') is None else '%.0f%%' % (100 * a['served'])} "
                      f"| {fmt(a.get('load'))} |")
                else:
                    w(f"| {label} | {wall} | {rr} | {ra} "
                      f"| {fmt(a.get('copy_rps'), 0) if a.get('copy_rps') else '–'} "
                      f"| {fmt(a.get('copy_s'), 2)} | {fmt(a.get('blocked'))} | {rss} | {fmt(a.get('load'))} |")
            w("")

            def target(name, value, limit, unit="×"):
                if value is None:
                    targets.append(f"| {size:,} | {name} | – | ≤ {limit}{unit} | not measured |")
                    return
                ok = value <= limit
                targets.append(f"| {size:,} | {name} | {value:.2f}{unit} | ≤ {limit}{unit} | "
                               f"{'met' if ok else 'MISSED by %.0f%%' % ((value / limit - 1) * 100)} |")

            variants = [(m, agg.get(k, {})) for m, k in (
                ("rebuild", "sc_rebuild"), ("ALTER", "sc_alter"),
                ("rebuild (verification off)", "sc_rebuild_nv"), ("ALTER (verification off)", "sc_alter_nv"))
                if k in agg]
            if wl == "off":
                for m, a in variants:
                    if m.startswith("rebuild"):
                        target(f"idle: sc {m} wall / pg_repack", ratio(a.get("wall"), rep), 1.0)
                    else:
                        target(f"idle: sc {m} wall / offline ALTER", ratio(a.get("wall"), alt), 1.3)
            else:
                for m, a in variants:
                    target(f"500 tps: sc {m} wall / pg_repack", ratio(a.get("wall"), rep), 1.2)
                    target(f"500 tps: sc {m} p99 / pg_repack p99", ratio(a.get("p99"), rep99), 0.5)
                    target(f"500 tps: sc {m} p99 / no-migration p99", ratio(a.get("p99"), none99), 3.0)
                    target(f"500 tps: sc {m} failed transactions", float(a.get("failed", 0)), 0, "")
            for m, a in variants:
                if a.get("rss") is not None:
                    target(f"{'idle' if wl == 'off' else '500 tps'}: sc {m} peak RSS", a["rss"], 256, " MiB")
    if cut:
        b = [c["blocked_ms"] for c in cut if c.get("blocked_ms") is not None]
        okc = sum(1 for c in cut if c.get("ok"))
        w(f"#### Cutover: {len(cut)} consecutive shadowcopy rebuilds of a {meta.get('cutover_rows', 0):,}-row "
          "orders table under the 500 tps workload")
        w("")
        if b:
            w(f"- blocked_ms: median {fmt(statistics.median(b))}, p99 {fmt(pct(b, 99))}, "
              f"min {fmt(min(b))}, max {fmt(max(b))} (all: {', '.join(fmt(x) for x in b)})")
        w(f"- successful runs: {okc}/{len(cut)}; workload failed transactions + aborted clients over "
          f"the whole series: {meta.get('cutover_failed', '–')}; workload p99 over the series "
          f"{fmt(meta.get('cutover_p99'))} ms, max {fmt(meta.get('cutover_max'))} ms")
        w("")
        if b:
            m50 = statistics.median(b)
            p99 = pct(b, 99)
            targets.append(f"| {meta.get('cutover_rows', 0):,} | cutover blocked median | {m50:.1f} ms | ≤ 50 ms | "
                           f"{'met' if m50 <= 50 else 'MISSED'} |")
            targets.append(f"| {meta.get('cutover_rows', 0):,} | cutover blocked p99 | {p99:.1f} ms | ≤ 100 ms | "
                           f"{'met' if p99 <= 100 else 'MISSED'} |")
    if targets:
        w("#### Performance targets (this run)")
        w("")
        w("| rows | target | measured | limit | verdict |")
        w("|---|---|---|---|---|")
        out.extend(targets)
        w("")
    print("\n".join(out))


def cmd_micro(path):
    data = json.load(open(path))
    ctx = data.get("context", {})
    out = ["| benchmark | time/iter | CPU/iter | iterations | throughput |", "|---|---|---|---|---|"]
    for b in data.get("benchmarks", []):
        if b.get("run_type") == "aggregate":
            continue
        unit = b.get("time_unit", "ns")
        thr = []
        if "items_per_second" in b:
            thr.append(f"{b['items_per_second']:,.0f} items/s")
        if "bytes_per_second" in b:
            thr.append(f"{b['bytes_per_second'] / 1048576:,.1f} MiB/s")
        out.append(f"| {b['name']} | {b['real_time']:,.1f} {unit} | {b['cpu_time']:,.1f} {unit} | "
                   f"{b['iterations']:,} | {', '.join(thr) or '–'} |")
    head = (f"Google Benchmark, {ctx.get('num_cpus', '?')} CPUs at {ctx.get('mhz_per_cpu', '?')} MHz, "
            f"library build `{ctx.get('library_build_type', '?')}`, date {ctx.get('date', '?')}.")
    print(head + "\n\n" + "\n".join(out))


def verdict(value, limit, at_least=False):
    if value is None:
        return "not measured"
    if (value >= limit) if at_least else (value <= limit):
        return "met"
    if at_least:
        return f"MISSED: {limit / value:.1f}× short" if value > 0 else "MISSED"
    if not limit:
        return "MISSED"
    return f"MISSED by {(value / limit - 1) * 100:.0f}%"


def cmd_blocks(path, rate, rows):
    runs = [json.loads(l) for l in open(path) if l.strip()]
    ok = [r for r in runs if not r.get("failed")]
    out = [f"{len(ok)} rebuilds of {int(rows):,} rows under the bigtx workload at {rate} tps"
           + (f" ({len(runs) - len(ok)} more failed)" if len(ok) < len(runs) else ""), "",
           "| writers blocked by | min | median | p90 | p99 | max | runs over 100 ms | attempts given up |",
           "|---|---|---|---|---|---|---|---|"]
    stats = {}
    for label, key, gave_up in (
            ("the consistency point (longest attempt)", "verify_blocked_ms", lambda r: r.get("verify_point_failures", 0)),
            ("the cutover (longest attempt)", "blocked_max_ms", lambda r: r.get("cutover_attempts", 1) - 1)):
        v = [r[key] for r in ok if r.get(key) is not None]
        if not v:
            out.append(f"| {label} | – | – | – | – | – | – | – |")
            continue
        stats[key] = (pct(v, 50), pct(v, 99))
        out.append(f"| {label} | {min(v):.1f} | {pct(v, 50):.1f} | {pct(v, 90):.1f} | {pct(v, 99):.1f} "
                   f"| {max(v):.1f} | {sum(1 for x in v if x > 100)} | {sum(gave_up(r) for r in ok)} |")
    out += ["", "| target | measured | limit | verdict |", "|---|---|---|---|"]
    vp = stats.get("verify_blocked_ms", (None, None))[1]
    cm, cp = stats.get("blocked_max_ms", (None, None))
    for name, value, limit in (("consistency point: writers blocked, p99", vp, 100),
                               ("cutover: writers blocked, median", cm, 50),
                               ("cutover: writers blocked, p99", cp, 100)):
        out.append(f"| {name} | {fmt(value)} ms | ≤ {limit} ms | {verdict(value, limit)} |")
    out.append(f"| rebuilds that failed | {len(runs) - len(ok)} | 0 | {verdict(len(runs) - len(ok), 0)} |")
    print("\n".join(out))


def cmd_replay(path):
    runs = [json.loads(l) for l in open(path) if l.strip()]
    out = ["| apply sessions | burst (changes) | committed in s | catch-up s | changes/s "
           "| WAL behind the slot | RSS before / with backlog / peak MiB |",
           "|---|---|---|---|---|---|---|"]
    best = None
    for r in runs:
        if r.get("failed"):
            out.append(f"| {r['workers']} | {r['burst']:,} | – | – | **failed** | – | – |")
            continue
        best = max(best or 0, r["changes_per_s"])
        out.append(f"| {r['workers']} | {r['burst']:,} | {r['burst_s']} | {r['catchup_s']} "
                   f"| {r['changes_per_s']:,} | {r['backlog_wal']} "
                   f"| {r['rss_mib_before']} / {r['rss_mib_with_backlog']} / {r['rss_mib_peak']} |")
    out += ["", "| target | measured (best run) | limit | verdict |", "|---|---|---|---|",
            f"| replay of a held-back burst | {'–' if best is None else f'{best:,}'} changes/s "
            f"| ≥ 100,000 changes/s | {verdict(best, 100000, at_least=True)} |"]
    print("\n".join(out))


def cmd_splice(path, tag, section_path):
    begin, end = f"<!-- bench:{tag}:begin -->", f"<!-- bench:{tag}:end -->"
    section = open(section_path).read().rstrip("\n")
    try:
        text = open(path).read()
    except OSError:
        text = "# Benchmark results\n\nWritten by `scripts/bench`; see the end of this file for notes.\n"
    block = f"{begin}\n{section}\n{end}"
    if begin in text and end in text:
        pre, rest = text.split(begin, 1)
        _, post = rest.split(end, 1)
        text = pre + block + post
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    open(path, "w").write(text)


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "lat":
        cmd_lat(args[0], args[1], args[2:])
    elif cmd == "pgbench-summary":
        cmd_pgbench_summary(args)
    elif cmd == "report":
        cmd_report(*args)
    elif cmd == "micro":
        cmd_micro(args[0])
    elif cmd == "blocks":
        cmd_blocks(*args)
    elif cmd == "replay":
        cmd_replay(args[0])
    elif cmd == "splice":
        cmd_splice(*args)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
