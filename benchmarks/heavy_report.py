#!/usr/bin/env python3
"""Helpers of benchmarks/heavy_writes.sh (no third-party modules).

  heavy_report.py record --shape S --method M --rate R --attempt K --rc RC --t0 T0 --t1 T1
                         --lead L --tail T --load LOAD --dir DIR
      one JSON line for a run: the workload's latency and schedule lag over the
      transactions scheduled during [T0, T1] (pgbench -l logs DIR/wl/lat*),
      shadowcopy's phases (DIR/stderr) and summary (DIR/stdout); writes
      DIR/series.dat and DIR/p99.dat for the plot
  heavy_report.py brief                        a short line of the JSON line on stdin
  heavy_report.py plot RESULTS.jsonl META.json PLOTDIR
      one PNG per shape (gnuplot): the workload's latency over time during
      each method, the method's span shaded, shadowcopy's phases marked
  heavy_report.py table RESULTS.jsonl META.json SHAPES.jsonl
      the markdown section (stdout)
"""
import argparse
import datetime
import glob
import json
import math
import os
import re
import subprocess
import sys

METHOD_ORDER = ["none", "alter", "repack", "sc_alter", "sc_rebuild"]
METHOD_LABEL = {
    "none": "no migration",
    "alter": "plain ALTER TABLE … TYPE numeric",
    "repack": "pg_repack --table",
    "sc_alter": "shadowcopy --alter (defaults)",
    "sc_rebuild": "shadowcopy rebuild (defaults)",
}
BIG = -1   # script number given to the large transactions (logs DIR/wl/big.K*, due times DIR/wl/bigdue)
PHASE_RE = re.compile(r"^(\d\d):(\d\d):(\d\d(?:\.\d+)?) info: phase=(\S+)\s*$")


def pct(values, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty sorted list."""
    k = max(1, math.ceil(p / 100.0 * len(values)))
    return values[k - 1]


def read_log(wldir):
    """(scheduled start, latency ms, lag ms, script, end) per logged transaction, failures counted."""
    tx, failed = [], 0
    due = {}
    try:
        for line in open(os.path.join(wldir, "bigdue")):
            k, t = line.split()
            due[k] = float(t)
    except OSError:
        pass
    for f in glob.glob(os.path.join(wldir, "lat*")) + glob.glob(os.path.join(wldir, "big.*")):
        big = os.path.basename(f).startswith("big.")
        k = os.path.basename(f).split(".")[1] if big else None
        with open(f, errors="replace") as fh:
            for line in fh:
                p = line.split()
                # client_id transaction_no time script_no time_epoch time_us [schedule_lag] [retries]
                if len(p) < 6 or not p[4].isdigit() or not p[5].isdigit():
                    continue
                end = int(p[4]) + int(p[5]) / 1e6
                if p[2] in ("failed", "skipped"):
                    failed += 1
                    continue
                lat_us = int(p[2])     # with --rate: from the scheduled start
                lag_us = int(p[6]) if len(p) > 6 and p[6].lstrip("-").isdigit() else 0
                if big and k in due:   # pgbench -t 1: from its start; due time from big_loop
                    lag_us = max(0, int((end - lat_us / 1e6 - due[k]) * 1e6))
                    lat_us += lag_us
                tx.append((end - lat_us / 1e6, lat_us / 1000.0, lag_us / 1000.0, BIG if big else int(p[3]), end))
    tx.sort()
    return tx, failed


def parse_phases(path, t0):
    """[(name, epoch)] from shadowcopy's `HH:MM:SS.sss info: phase=NAME` lines (UTC)."""
    out = []
    try:
        lines = open(path, errors="replace").read().splitlines()
    except OSError:
        return out
    day = datetime.datetime.fromtimestamp(t0, datetime.timezone.utc).replace(
        hour=0, minute=0, second=0, microsecond=0).timestamp()
    for line in lines:
        m = PHASE_RE.match(line)
        if not m:
            continue
        t = day + int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))
        if t < t0 - 43200:
            t += 86400
        out.append((m.group(4), t))
    return out


def last_json_summary(path):
    try:
        lines = [l for l in open(path, errors="replace").read().splitlines() if l.strip()]
    except OSError:
        return None
    for l in reversed(lines):
        try:
            obj = json.loads(l)
        except ValueError:
            continue
        if isinstance(obj, dict):
            return obj.get("summary", obj)
    return None


def cmd_record(argv):
    ap = argparse.ArgumentParser()
    for k in ("shape", "method", "load", "dir"):
        ap.add_argument("--" + k, required=True)
    for k in ("rate", "attempt", "rc"):
        ap.add_argument("--" + k, type=int, required=True)
    for k in ("t0", "t1", "lead", "tail"):
        ap.add_argument("--" + k, type=float, required=True)
    a = ap.parse_args(argv)
    tx, failed = read_log(os.path.join(a.dir, "wl"))
    try:
        err = open(os.path.join(a.dir, "wl", "pgbench.err"), errors="replace").read()
    except OSError:
        err = ""
    aborted = len(re.findall(r"client \d+ aborted", err))
    # the figures are of the calibrated sessions (pgbench -R); the large transactions'
    # latency (from when each was due, its pgbench's start included) is reported apart
    allwin = [t for t in tx if t[4] >= a.t0 and t[0] <= a.t1]
    win = [t for t in allwin if t[3] != BIG]
    bigwin = sorted(t[1] for t in allwin if t[3] == BIG)
    lat = sorted(t[1] for t in win)
    rec = {
        "shape": a.shape, "method": a.method, "rate": a.rate, "attempt": a.attempt,
        "ok": a.rc == 0, "rc": a.rc, "t0": a.t0, "t1": a.t1, "wall": round(a.t1 - a.t0, 3),
        "loadavg": a.load, "n": len(win), "failed": failed, "aborted": aborted,
        "scheduled": int((a.t1 - a.t0) * a.rate),   # the calibrated sessions' (not the large ones')
    }
    if lat:
        rec.update(p50=pct(lat, 50), p99=pct(lat, 99), max=lat[-1],
                   max_lag_ms=max(t[2] for t in win))
    if bigwin:
        rec.update(big_n=len(bigwin), big_max=bigwin[-1])
    before = sorted(t[1] for t in tx if t[0] < a.t0 and t[3] != BIG)
    after = sorted(t[1] for t in tx if t[0] > a.t1 and t[3] != BIG)
    if before:
        rec["p99_before"] = pct(before, 99)
    if after:
        rec["p99_after"] = pct(after, 99)
    if a.method.startswith("sc_"):
        rec["phases"] = [{"name": n, "t": round(t - a.t0, 3)} for n, t in parse_phases(
            os.path.join(a.dir, "stderr"), a.t0)]
        rec["summary"] = last_json_summary(os.path.join(a.dir, "stdout"))
    if not rec["ok"]:
        try:
            rec["error"] = open(os.path.join(a.dir, "stderr"), errors="replace").read().strip()[-300:]
        except OSError:
            pass
    # plot data: scheduled start relative to t0, latency, lag, script; and a p99 per second
    with open(os.path.join(a.dir, "series.dat"), "w") as fh:
        for s, l, g, sc, _ in tx:
            fh.write(f"{s - a.t0:.4f} {l:.3f} {g:.3f} {sc}\n")
    bins = {}
    for s, l, _, sc, _ in tx:
        if sc != BIG:
            bins.setdefault(math.floor(s - a.t0), []).append(l)
    with open(os.path.join(a.dir, "p99.dat"), "w") as fh:
        for b in sorted(bins):
            fh.write(f"{b + 0.5:.1f} {pct(sorted(bins[b]), 99):.3f}\n")
    rec["dir"] = a.dir
    print(json.dumps(rec))


def fmt(v, digits=1):
    if v is None or (isinstance(v, float) and (math.isnan(v) or math.isinf(v))):
        return "–"
    if abs(v) >= 1000 and digits <= 1:
        return f"{v:,.0f}"
    return f"{v:.{digits}f}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def cmd_brief():
    r = json.loads(sys.stdin.readline())
    print(f"{r['method']} ok={r['ok']} wall {r['wall']:.2f}s n={r['n']}/{r['scheduled']} "
          f"p50 {fmt(r.get('p50'))}ms p99 {fmt(r.get('p99'))}ms max {fmt(r.get('max'))}ms "
          f"worst lag {fmt(r.get('max_lag_ms'))}ms failed={r['failed']} aborted={r['aborted']}"
          + (" phases=" + ",".join(f"{p['name']}@{p['t']}" for p in r.get("phases", [])) if r.get("phases") else ""))


def load(path):
    return [json.loads(l) for l in open(path) if l.strip()]


def final_runs(rows):
    """Per (shape, method) the last attempt (calibration retries of `none` come first)."""
    by = {}
    for r in rows:
        by[(r["shape"], r["method"])] = r
    return by


def gp_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def thin(src, dst, limit=25000):
    """Copies series.dat, keeping every k-th point but every point above the 99th percentile."""
    lines = open(src).read().splitlines()
    if len(lines) <= limit:
        open(dst, "w").write("\n".join(lines) + "\n")
        return
    lat = sorted(float(l.split()[1]) for l in lines)
    cut = pct(lat, 99)
    k = math.ceil(len(lines) / limit)
    keep = [l for i, l in enumerate(lines) if i % k == 0 or float(l.split()[1]) >= cut]
    open(dst, "w").write("\n".join(keep) + "\n")


def cmd_plot(results, meta_path, plotdir):
    meta = json.load(open(meta_path))
    by = final_runs(load(results))
    lead, tail = float(meta["lead"]), float(meta["tail"])
    for shape in dict.fromkeys(r[0] for r in by):
        runs = [by[(shape, m)] for m in METHOD_ORDER if (shape, m) in by]
        if not runs:
            continue
        xmax = max(r["wall"] + tail for r in runs)
        for r in runs:
            with open(os.path.join(r["dir"], "series.dat")) as fh:
                for line in fh:
                    xmax = max(xmax, float(line.split(" ", 1)[0]))
        lats = [r.get("max") for r in runs if r.get("max")]
        # a decade above the highest latency: room for the phase labels
        ymax = 10 ** (1 + math.ceil(math.log10(max(lats) * 1.2))) if lats else 10000
        big = BIG if any(l.split()[3] == str(BIG) for r in runs
                         for l in open(os.path.join(r["dir"], "series.dat"))) else None
        n = len(runs)
        title = (f"{shape}: workload latency while a {int(meta['rows']):,}-row table is rewritten "
                 f"({runs[0]['rate']} tps; shaded: the method running)")
        gp = [
            f"set terminal pngcairo noenhanced size 1100,{190 * n + 70} font 'Sans,9'",
            f"set output {gp_str(os.path.join(plotdir, f'heavy-{shape}.png'))}",
            f"set multiplot layout {n},1 title {gp_str(title)}",
            "set logscale y", f"set yrange [0.1:{ymax}]", f"set xrange [{-lead}:{xmax:.1f}]",
            "set ylabel 'latency ms'", "set grid ytics xtics",
            "set format y '%g'", "set lmargin 10", "set rmargin 3",
        ]
        for i, r in enumerate(runs):
            d = r["dir"]
            thin(os.path.join(d, "series.dat"), os.path.join(d, "series.thin.dat"))
            gp += ["unset object", "unset arrow", "unset label"]
            gp.append(f"set object 1 rect from 0, graph 0 to {r['wall']:.3f}, graph 1 "
                      "fc rgb '#e8e8e8' fs solid 1.0 noborder behind")
            last_x, shift = None, 0
            for j, p in enumerate(r.get("phases") or []):
                t = p["t"]
                shift = shift + 1 if last_x is not None and t - last_x < (xmax + lead) * 0.015 else 0
                last_x = t
                gp.append(f"set arrow {j + 1} from {t}, graph 0 to {t}, graph 1 nohead lc rgb '#c00000' dt 2")
                gp.append(f"set label {j + 1} {gp_str(p['name'])} at {t}, graph 0.97 rotate by 90 right "
                          f"offset {1.2 * shift - 0.2},0 font ',8' tc rgb '#c00000' front")
            status = "" if r["ok"] else " — FAILED"
            title = (f"{METHOD_LABEL[r['method']]}{status}: {'window' if r['method'] == 'none' else 'wall'} "
                     f"{r['wall']:.1f} s, p50 {fmt(r.get('p50'))} ms, p99 {fmt(r.get('p99'))} ms, "
                     f"worst schedule lag {fmt((r.get('max_lag_ms') or 0) / 1000, 2)} s")
            gp.append(f"set title {gp_str(title)}")
            gp.append("set key top right horizontal opaque font ',8'" if i == 0 else "unset key")
            gp.append("set xlabel 'seconds since the method started (transactions at their scheduled start)'"
                      if i == n - 1 else "unset xlabel")
            series = gp_str(os.path.join(d, "series.thin.dat"))
            cmd = (f"plot {series} using 1:($4 == {BIG} ? 1/0 : $2) with points pt 7 ps 0.2 lc rgb '#3060c0' "
                   f"title 'transaction latency'")
            if big is not None:
                cmd += (f", {series} using 1:($4 == {big} ? $2 : 1/0) with points pt 7 ps 0.5 "
                        "lc rgb '#e07000' title 'large transaction'")
            cmd += (f", {gp_str(os.path.join(d, 'p99.dat'))} using 1:2 with lines lw 1.5 lc rgb 'black' "
                    "title 'p99 per second'")
            gp.append(cmd)
        gp.append("unset multiplot")
        script = os.path.join(os.path.dirname(runs[0]["dir"]), f"heavy-{shape}.gp")
        open(script, "w").write("\n".join(gp) + "\n")
        subprocess.run(["gnuplot", script], check=True)


def cmd_table(results, meta_path, shapes_path):
    meta = json.load(open(meta_path))
    rows = load(results)
    by = final_runs(rows)
    shapes = {s["shape"]: s for s in load(shapes_path)}
    out = []
    w = out.append
    w(f"### Heavy writes: run of {meta['date']} (tag `{meta['tag']}`, {meta['minutes']} min)")
    w("")
    w("```")
    w(meta["command"])
    w("```")
    w("")
    if meta.get("note"):
        w(f"**{meta['note']}**")
        w("")
    w(f"- machine: {meta['nproc']} cores ({meta['cpu']}), {meta['mem']} memory; {meta['pg']}")
    w(f"- shadowcopy: `{meta['sc_version']}`, extra args: `{meta['sc_args'] or '(none)'}`")
    w(f"- table: `orders`, {int(meta['rows']):,} rows (benchmarks/orders_schema.sql); the ALTER: "
      f"`{meta['alter']}` (a rewrite) for plain ALTER and shadowcopy --alter")
    w(f"- workload: pgbench at a fixed rate (-R), one run per method, started {meta['lead']} s before "
      f"it and ended {meta['tail']} s after; `no migration` = a {meta['window']} s window. Latency is "
      "from each transaction's scheduled start (so time spent behind a lock or a busy server counts); "
      "schedule lag = how late the transaction started. Figures cover the transactions scheduled "
      "while the method ran, of the sessions at the fixed rate; a shape's large transactions run on a "
      "session of their own, their worst latency (from when each was due) in `large tx max ms`. The rate is the shape's calibrated one: the highest step (from a "
      f"fraction of the unthrottled capacity, down by 25%) at which the workload alone keeps its worst "
      f"schedule lag ≤ {int(meta['max_lag_ms']) / 1000:g} s, or the last one tried when none does "
      "(the premise line of the targets says so).")
    for s, d in shapes.items():
        rs = [r for r in rows if r["shape"] == s and r["method"] == "none"]
        tries = ", ".join(f"{r['rate']} tps → {fmt((r.get('max_lag_ms') or 0) / 1000, 2)} s" for r in rs)
        w(f"- `{s}`: {d['text']} (`pgbench {d['args']}`); calibration (rate → worst lag alone): {tries}")
    w("")
    links = []
    results_dir = os.path.dirname(os.path.abspath(meta["results"]))
    for s in shapes:
        png = os.path.relpath(os.path.abspath(os.path.join(meta["plots"], f"heavy-{s}.png")), results_dir)
        links.append(f"[{s}]({png})")
    w("Latency over time, per shape and method (phases of shadowcopy marked): " + ", ".join(links))
    w("")
    w("| shape (tps) | method | wall s | worst schedule lag s | p50 ms | p99 ms | max ms | p99 × no migration "
      "| p99 × pg_repack | wall × pg_repack | failed | tx served / scheduled | p99 after ms | large tx max ms "
      "| load avg |")
    w("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    targets = []
    for s in shapes:
        none = by.get((s, "none"), {})
        rep = by.get((s, "repack"), {})
        for m in METHOD_ORDER:
            r = by.get((s, m))
            if not r:
                continue
            label = METHOD_LABEL[m] + ("" if r["ok"] else " **(FAILED)**")
            wall = f"{r['wall']:.1f} (window)" if m == "none" else f"{r['wall']:.2f}"
            served = "–" if not r.get("scheduled") else f"{100 * r['n'] / r['scheduled']:.0f}%"
            w(f"| {s} ({r['rate']}) | {label} | {wall} | {fmt((r.get('max_lag_ms') or 0) / 1000, 2)} "
              f"| {fmt(r.get('p50'))} | {fmt(r.get('p99'))} | {fmt(r.get('max'))} "
              f"| {fmt(ratio(r.get('p99'), none.get('p99')), 2)} | {fmt(ratio(r.get('p99'), rep.get('p99')), 2)} "
              f"| {'–' if m == 'none' else fmt(ratio(r['wall'], rep.get('wall')), 2)} "
              f"| {r['failed'] + r['aborted']} | {served} | {fmt(r.get('p99_after'))} | {fmt(r.get('big_max'))} "
              f"| {r['loadavg'].split()[0]} |")

        def target(name, value, limit, unit=""):
            if value is None:
                targets.append(f"| {s} | {name} | – | ≤ {limit}{unit} | not measured |")
                return
            verdict = "met" if value <= limit else (
                f"MISSED by {(value / limit - 1) * 100:.0f}%" if limit else "MISSED")
            targets.append(f"| {s} | {name} | {value:.2f}{unit} | ≤ {limit}{unit} | {verdict} |")

        if none:
            target("no migration: worst schedule lag (the shape's premise)",
                   (none.get("max_lag_ms") or 0) / 1000, 0.5, " s")
        for m in ("sc_alter", "sc_rebuild"):
            r = by.get((s, m))
            if not r:
                continue
            name = "--alter" if m == "sc_alter" else "rebuild"
            target(f"shadowcopy {name}: worst schedule lag", (r.get("max_lag_ms") or 0) / 1000, 2, " s")
            target(f"shadowcopy {name}: p99 / no-migration p99", ratio(r.get("p99"), none.get("p99")), 3, "×")
            target(f"shadowcopy {name}: p99 / pg_repack p99", ratio(r.get("p99"), rep.get("p99")), 0.5, "×")
            fin = "finished" if r["ok"] else "did NOT finish"
            slower = ratio(r["wall"], rep.get("wall"))
            targets.append(f"| {s} | shadowcopy {name}: the rewrite finishes (slower is fine) | {fin}, "
                           f"{r['wall']:.1f} s = {fmt(slower, 2)}× pg_repack's | finishes | "
                           f"{'met' if r['ok'] else 'MISSED'} |")
    w("")
    w("Targets (one run each, this machine):")
    w("")
    w("| shape | target | measured | limit | verdict |")
    w("|---|---|---|---|---|")
    out.extend(targets)
    w("")
    w("shadowcopy's phases (start, seconds after the run started) and summary:")
    w("")
    for s in shapes:
        for m in ("sc_alter", "sc_rebuild"):
            r = by.get((s, m))
            if not r:
                continue
            ph = ", ".join(f"{p['name']} {p['t']:.1f}" for p in r.get("phases") or []) or "–"
            sm = r.get("summary") or {}
            keys = [k for k in ("copy_s", "changes_replayed", "blocked_ms", "verify_blocked_ms", "elapsed_s")
                    if k in sm]
            extra = ", ".join(f"{k} {sm[k]}" for k in keys)
            w(f"- {s}, {METHOD_LABEL[m]}: {ph}; end {r['wall']:.1f}" + (f" ({extra})" if extra else ""))
    print("\n".join(out))


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "record":
        cmd_record(args)
    elif cmd == "brief":
        cmd_brief()
    elif cmd == "plot":
        cmd_plot(*args)
    elif cmd == "table":
        cmd_table(*args)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
