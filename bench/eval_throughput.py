"""Eval throughput: ``daytwo eval run``'s runner through the embedded gateway, against the same
runner sent straight to the upstream, in one run.

The upstream is the gateway benches' fake OpenAI upstream (``harness.start_upstream``: nginx+lua,
else the uvloop ``fake_upstream.py``; a fixed 699-byte completion, ``--upstream-ms`` of delay
through its ``/dN/`` routes), so the upstream is never the limit. A generated suite of
``--items`` cases (one model target, two cheap assertions: ``icontains`` and ``regex``) is run
with ``daytwo.evals.runner.execute`` -- the code ``daytwo eval run`` calls -- and measured:

* **through**: the embedded gateway (the user's ``daytwo.yaml`` served in this process on a
  loopback port, the same ``Gateway`` app ``daytwo serve`` builds: admission, pricing, the
  SQLite ledger) at ``-j`` 1, 16 and 64, cache off: items/s, per-item latency p50/p99 as the
  eval client saw it, the process's CPU per item (runner + gateway: they share the process);
* **direct**: the same runner with ``--gateway`` pointed at the fake upstream itself (no
  daytwo in between), same ``-j``: the baseline. ``added`` = through - direct, per figure --
  gateway_overhead.py's method (same client, same upstream, with and without the gateway);
* **split** at ``-j 1``: per-item wall time = answer call as the client saw it (of which the
  gateway's own recorded latency, ledger ``latency_ms``, of which the upstream's time, the
  direct p50) + grading and runner bookkeeping;
* every point is run ``--reps`` times (default 3), direct and through alternating, and the run
  of median wall time is reported;
* **pipeline check**: every call of every through run has its ledger row, attributed to
  workflow ``eval:<suite>`` and the run's session (the bench fails otherwise);
* **cache**: the ``-j 16`` suite rerun with the eval cache on: seconds, items/s, cache hits
  (must equal the items), calls made (must be 0);
* **fixed cost**: a one-item run (gateway start and stop, suite load) -- included in every
  wall time above, so small suites read slower than large ones;
* ``--judged``: the ``-j 16`` through run again with an ``llm-rubric`` on every item, judged by
  daytwo's simulator in the gateway's process (one judge call per item).

Usage::

    .venv/bin/python bench/eval_throughput.py                 # 1,000 items, 3 reps, ~25 s
    .venv/bin/python bench/eval_throughput.py --judged --json > out.json
    .venv/bin/python bench/eval_throughput.py --items 200 --upstream-ms 50
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

import harness as h
from daytwo.evals.model import RunResult
from daytwo.evals.runner import RunOptions, execute, load_suite

CONCURRENCY = (1, 16, 64)
SUITE = "bench"
#: Words of the fake upstream's fixed reply the assertions look for.
ASSERTS = [
    {"type": "icontains", "value": "benchmark reply"},
    {"type": "regex", "value": r"^Hello!\s+\w+"},
]
#: The simulator's judge scores the share of the rubric's words found in the answer: it passes.
RUBRIC = {"type": "llm-rubric", "value": "a fixed benchmark reply", "metric": "rubric"}
FIXED_REPS = 3


def write_project(work: Path, upstream: str, items: int, judged: bool) -> tuple[Path, Path]:
    """daytwo.yaml (the fake upstream behind ``gpt-4o-mini``, the in-process simulator behind
    ``judge``, a SQLite ledger) and the generated suite; returns (config, suite)."""
    config = {
        "gateway": {"require_keys": False},
        "logging": {"level": "warning", "access_log": False},
        "providers": {
            "up": {"type": "openai", "base_url": upstream, "api_key": f"env:{h.UPSTREAM_KEY_ENV}"},
            "sim": {"type": "sim", "sim": {"seed": 7}},
        },
        "models": {
            h.MODEL: {"deployments": [{"provider": "up", "model": h.MODEL}]},
            "judge": {"deployments": [{"provider": "sim", "model": "gpt-4o"}]},
        },
        "ledger": {"url": f"sqlite:///{work / 'ledger.db'}"},
    }
    extra = [RUBRIC] if judged else []
    suite = {
        "description": f"{items} generated items, cheap assertions",
        "targets": [h.MODEL],
        "messages": [{"role": "user", "content": "Question {{ n }}: {{ question }}"}],
        "params": {"max_tokens": 64},
        "judge": {"model": "judge"},
        "tests": [
            {"vars": {"n": i, "question": f"what is item {i} about?"}, "assert": ASSERTS + extra}
            for i in range(items)
        ],
    }
    cfg_path = work / "daytwo.yaml"
    cfg_path.write_text(yaml.safe_dump(config, sort_keys=False))
    suite_path = work / "evals" / f"{SUITE}{'-judged' if judged else ''}-{items}.yaml"
    suite_path.parent.mkdir(exist_ok=True)
    suite_path.write_text(yaml.safe_dump(suite, sort_keys=False))
    return cfg_path, suite_path


def run_once(
    suite: Path,
    work: Path,
    j: int,
    *,
    config: Path | None,
    direct: str | None,
    cache: bool,
    fixed_s: float = 0.0,
) -> dict[str, Any]:
    """One eval run: wall and CPU seconds, items/s (also net of ``fixed_s``, the run's fixed
    cost), latency percentiles, the run itself."""
    loaded = load_suite(suite)
    options = RunOptions(
        config=config,
        gateway_url=direct,
        concurrency=j,
        use_cache=cache,
        cache_dir=work / ".daytwo",
    )
    cpu0, t0 = time.process_time(), time.perf_counter()
    result = execute(loaded, options)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    n = len(result.items)
    lat = sorted(i.output.latency_ms for i in result.items if i.output is not None)
    errors = sum(1 for i in result.items if i.is_error)
    failed = sum(1 for i in result.items if not i.passed) - errors
    return {
        "j": j,
        "items": n,
        "wall_s": round(wall, 3),
        "items_per_s": round(n / wall, 1),
        # None when the fixed cost is (nearly) all of the run: nothing left to divide by
        "items_per_s_net": round(n / (wall - fixed_s), 1) if wall - fixed_s > wall / 20 else None,
        "cpu_ms_per_item": round(cpu * 1000 / n, 3),
        "latency_p50_ms": round(pct(lat, 50), 3),
        "latency_p99_ms": round(pct(lat, 99), 3),
        "failed": failed,
        "errors": errors,
        "calls": result.calls,
        "cache_hits": result.cache_hits,
        "_result": result,
    }


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    k = min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))
    return values[k]


def ledger_check(work: Path, result: RunResult) -> dict[str, Any]:
    """The run's ledger rows: one per call, attributed to the eval; the gateway's own latency."""
    conn = sqlite3.connect(work / "ledger.db")
    try:
        rows = conn.execute(
            "SELECT latency_ms, workflow, project FROM calls WHERE session = ?", (result.run_id,)
        ).fetchall()
    finally:
        conn.close()
    workflow = f"eval:{Path(result.suite).stem}"
    attributed = sum(1 for _, wf, proj in rows if wf == workflow and proj == "evals")
    lat = sorted(float(r[0]) for r in rows)
    return {
        "rows": len(rows),
        "calls": result.calls,
        "attributed": attributed,
        "ok": len(rows) == result.calls and attributed == len(rows),
        "gateway_latency_p50_ms": round(pct(lat, 50), 3),
    }


def bench(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="daytwo-eval-bench-"))
    os.environ.setdefault(h.UPSTREAM_KEY_ENV, "sk-fake-upstream")
    upstream_proc, kind = h.start_upstream(work)
    try:
        base = f"http://127.0.0.1:{upstream_proc.port}"
        if args.upstream_ms:
            base += f"/d{args.upstream_ms}"
        return measure(args, work, base, kind)
    finally:
        h.stop_upstream(upstream_proc, work)
        os.chdir(h.REPO)
        if args.keep:
            h.log(f"work dir kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def measure(args: argparse.Namespace, work: Path, base: str, kind: str) -> dict[str, Any]:
    config, suite = write_project(work, f"{base}/v1", args.items, judged=False)
    one_cfg, one = write_project(work, f"{base}/v1", 1, judged=False)
    os.chdir(work)  # the suite's relative paths, as `daytwo eval run` from the project
    busy = round(h.machine_busy_pct(), 1)  # other load on the machine skews every figure
    h.log("warm-up and the fixed cost of a run (one item, direct and through)")
    run_once(one, work, 1, config=one_cfg, direct=None, cache=False)
    fixed = {
        name: statistics.median(
            run_once(one, work, 1, config=cfg, direct=url, cache=False)["wall_s"]
            for _ in range(FIXED_REPS)
        )
        for name, cfg, url in (("direct", None, base), ("through", one_cfg, None))
    }
    through: dict[int, dict[str, Any]] = {}
    direct: dict[int, dict[str, Any]] = {}
    checks = []
    for j in CONCURRENCY:
        h.log(f"-j {j}: direct and through the embedded gateway, {args.reps} times each")
        runs: dict[str, list[dict[str, Any]]] = {"direct": [], "through": []}
        for rep in range(args.reps):
            order = ("direct", "through") if rep % 2 == 0 else ("through", "direct")
            for name in order:
                cfg, url = (None, base) if name == "direct" else (config, None)
                got = run_once(
                    suite, work, j, config=cfg, direct=url, cache=False, fixed_s=fixed[name]
                )
                if name == "through":
                    checks.append(ledger_check(work, got["_result"]))
                runs[name].append(got)
        direct[j], through[j] = median_run(runs["direct"]), median_run(runs["through"])
    h.log("the -j 16 suite again, answered from the eval cache")
    cached = run_once(
        suite, work, 16, config=config, direct=None, cache=True, fixed_s=fixed["through"]
    )
    out: dict[str, Any] = {
        "bench": "eval_throughput",
        "when_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        "items": args.items,
        "upstream": kind,
        "upstream_ms": args.upstream_ms,
        "cpus": os.cpu_count(),
        "machine_busy_pct_before": busy,
        "fixed_s": fixed,
        "through": [strip(through[j]) for j in CONCURRENCY],
        "direct": [strip(direct[j]) for j in CONCURRENCY],
        "added": [added(through[j], direct[j]) for j in CONCURRENCY],
        "reps": args.reps,
        "split_j1": split(
            through[1], direct[1], ledger_check(work, through[1]["_result"]), fixed["through"]
        ),
        "ledger": checks,
        "cache_rerun": {
            **strip(cached),
            "ok": cached["cache_hits"] == args.items and cached["calls"] == 0,
        },
    }
    if args.judged:
        h.log("-j 16 with an llm-rubric on every item (the simulator judges)")
        _, judged_suite = write_project(work, f"{base}/v1", args.items, judged=True)
        judged = run_once(
            judged_suite,
            work,
            16,
            config=config,
            direct=None,
            cache=False,
            fixed_s=fixed["through"],
        )
        out["judged_j16"] = {**strip(judged), "ledger": ledger_check(work, judged["_result"])}
    return out


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run of median wall time (its figures stay one run's, consistent with each other)."""
    return sorted(runs, key=lambda r: r["wall_s"])[len(runs) // 2]


def strip(run: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in run.items() if not k.startswith("_")}


def added(through: dict[str, Any], direct: dict[str, Any]) -> dict[str, Any]:
    keys = ("latency_p50_ms", "latency_p99_ms", "cpu_ms_per_item")
    return {"j": through["j"], **{k: round(through[k] - direct[k], 3) for k in keys}}


def split(
    through: dict[str, Any], direct: dict[str, Any], check: dict[str, Any], fixed_s: float
) -> dict[str, Any]:
    """Per item at -j 1, net of the run's fixed cost: where the wall time goes (medians; the
    parts are nested)."""
    item_ms = (through["wall_s"] - fixed_s) * 1000 / through["items"]
    answer = through["latency_p50_ms"]
    return {
        "item_wall_ms": round(item_ms, 3),
        "answer_call_ms": answer,
        "of_which_gateway_recorded_ms": check["gateway_latency_p50_ms"],
        "of_which_upstream_direct_ms": direct["latency_p50_ms"],
        "grading_and_runner_ms": round(item_ms - answer, 3),
    }


def net(run: dict[str, Any]) -> str:
    value = run["items_per_s_net"]
    return "n/a" if value is None else f"{value:.1f}"


def print_table(out: dict[str, Any]) -> None:
    print(
        f"eval throughput: {out['items']} items, upstream {out['upstream']} "
        f"(+{out['upstream_ms']} ms); fixed cost per run: direct {out['fixed_s']['direct']:.2f} s, "
        f"through {out['fixed_s']['through']:.2f} s (net: items/s without it); "
        f"{out['cpus']} CPUs, {out['machine_busy_pct_before']}% busy before"
    )
    print(
        f"{'':8}{'-j':>4}{'items/s':>9}{'net':>9}{'wall s':>8}{'p50 ms':>8}{'p99 ms':>8}"
        f"{'CPU ms/it':>10}"
    )
    for name in ("direct", "through"):
        for r in out[name]:
            print(
                f"{name:8}{r['j']:>4}{r['items_per_s']:>9.1f}{net(r):>9}"
                f"{r['wall_s']:>8.2f}{r['latency_p50_ms']:>8.2f}{r['latency_p99_ms']:>8.2f}"
                f"{r['cpu_ms_per_item']:>10.3f}"
            )
    for a in out["added"]:
        print(
            f"added   {a['j']:>4}  p50 {a['latency_p50_ms']:+.2f} ms, "
            f"p99 {a['latency_p99_ms']:+.2f} ms, CPU {a['cpu_ms_per_item']:+.3f} ms/item"
        )
    s = out["split_j1"]
    print(
        f"split -j 1: item {s['item_wall_ms']:.2f} ms = answer call {s['answer_call_ms']:.2f} ms "
        f"(gateway recorded {s['of_which_gateway_recorded_ms']:.2f}, upstream direct "
        f"{s['of_which_upstream_direct_ms']:.2f}) + grading/runner {s['grading_and_runner_ms']:.2f}"
    )
    c = out["cache_rerun"]
    print(
        f"cache rerun: {c['wall_s']:.2f} s, {c['items_per_s']:.1f} items/s "
        f"({net(c)} net), "
        f"{c['cache_hits']} cache hits, {c['calls']} calls"
    )
    if "judged_j16" in out:
        jd = out["judged_j16"]
        print(
            f"judged -j 16: {jd['items_per_s']:.1f} items/s, {jd['calls']} calls, "
            f"{jd['failed']} failed, {jd['errors']} errors"
        )
    rows = sum(c["rows"] for c in out["ledger"])
    calls = sum(c["calls"] for c in out["ledger"])
    print(f"ledger: {rows} rows for {calls} calls over {len(out['ledger'])} through runs")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--items", type=int, default=1000, help="cases in the suite (default 1000)")
    ap.add_argument("--upstream-ms", type=int, default=0, help="the upstream's delay per call")
    ap.add_argument("--reps", type=int, default=3, help="runs per point, median (default 3)")
    ap.add_argument("--judged", action="store_true", help="also a run with an llm-rubric")
    ap.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    ap.add_argument("--keep", action="store_true", help="keep the work dir (config, ledger)")
    args = ap.parse_args(argv)
    h.exit_on_signals()
    try:
        out = bench(args)
    except h.BenchError as exc:
        h.log(f"bench failed: {exc}")
        return 1
    ok = (
        all(c["ok"] for c in out["ledger"])
        and out["cache_rerun"]["ok"]
        and all(r["errors"] == 0 for r in out["through"])
    )
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print_table(out)
    if not ok:
        h.log("FAILED: an item errored, a ledger row is missing, or the cache rerun made calls")
    return 0 if ok else 1


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
