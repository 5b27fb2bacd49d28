"""The goals of the gateway-overhead bench (from the issue), their evaluation, and the table."""

from __future__ import annotations

from typing import Any

ADDED_P50_MAX_MS = 0.5
ADDED_P99_MAX_MS = 2.0
C64_RPS_MIN = 2_000
LITELLM_FACTOR_MIN = 30
STREAM_TTFT_ADDED_MAX_MS = 1.0
COLD_START_MAX_S = 1.0
RSS_IDLE_MAX_MB = 100
RSS_LOAD_MAX_MB = 150
#: "Flat": least-squares RSS slope over the second half of the soak. The first half may hold
#: bounded growth (the SQLite page cache filling up to its size from a fresh start); the
#: overall slope and when the plateau began are reported next to it.
RSS_SLOPE_MAX_MB_PER_MIN = 0.1
#: The open-loop goal point (offered req/s).
GOAL_RATE = 500
#: What naming a prompt may add to a plain call (bench/prompt_case.py).
PROMPT_ADDED_P50_MAX_MS = 0.1
#: The generator vouches for itself when it achieves this share of its top rate, direct.
LOADGEN_OK_FRACTION = 0.97


def find(
    rows: list[dict[str, Any]], mode: str, param: str | None = None, value: int | None = None
) -> dict[str, Any]:
    """The first row of ``mode`` (with ``param == value`` when given); {} if none."""
    return next(
        (r for r in rows if r["mode"] == mode and (param is None or r.get(param) == value)), {}
    )


def goal(name: str, target: str, value: Any, ok: bool | None) -> dict[str, Any]:
    return {"goal": name, "target": target, "value": value, "pass": ok}


def at_most(value: float | None, limit: float) -> bool | None:
    return None if value is None else value <= limit


def evaluate(report: dict[str, Any]) -> list[dict[str, Any]]:
    rows = [r for r in report["rows"] if r["gateway"] == "daytwo"]
    c1, o500 = find(rows, "closed", "concurrency", 1), find(rows, "open", "rate", GOAL_RATE)
    c64 = find(rows, "closed", "concurrency", 64)
    t1 = find(rows, "stream_ttft")
    t500 = find(rows, "stream_ttft_open")
    goals = [
        goal(
            "added p50 at concurrency 1",
            f"<= {ADDED_P50_MAX_MS} ms",
            c1.get("added_p50_ms"),
            at_most(c1.get("added_p50_ms"), ADDED_P50_MAX_MS),
        ),
        goal(
            "added p99 at concurrency 1",
            f"<= {ADDED_P99_MAX_MS} ms",
            c1.get("added_p99_ms"),
            at_most(c1.get("added_p99_ms"), ADDED_P99_MAX_MS),
        ),
        goal(
            "added p50 at offered 500 req/s",
            f"<= {ADDED_P50_MAX_MS} ms",
            o500.get("added_p50_ms"),
            at_most(o500.get("added_p50_ms"), ADDED_P50_MAX_MS),
        ),
        goal(
            "added p99 at offered 500 req/s",
            f"<= {ADDED_P99_MAX_MS} ms",
            o500.get("added_p99_ms"),
            at_most(o500.get("added_p99_ms"), ADDED_P99_MAX_MS),
        ),
        goal(
            "req/s at concurrency 64",
            f">= {C64_RPS_MIN}",
            c64.get("gateway_rps"),
            None if not c64 else c64["gateway_rps"] >= C64_RPS_MIN,
        ),
        goal(
            "stream TTFT added p50, concurrency 1",
            f"<= {STREAM_TTFT_ADDED_MAX_MS} ms",
            t1.get("added_p50_ms"),
            at_most(t1.get("added_p50_ms"), STREAM_TTFT_ADDED_MAX_MS),
        ),
        goal(
            "stream TTFT added p50, offered 500 req/s",
            f"<= {STREAM_TTFT_ADDED_MAX_MS} ms",
            t500.get("added_p50_ms"),
            at_most(t500.get("added_p50_ms"), STREAM_TTFT_ADDED_MAX_MS),
        ),
        *(
            goal(
                f"translated stream (OpenAI in, Anthropic out) TTFT added p50, {where}",
                f"<= {STREAM_TTFT_ADDED_MAX_MS} ms",
                row.get("added_p50_ms"),
                at_most(row.get("added_p50_ms"), STREAM_TTFT_ADDED_MAX_MS),
            )
            for where, row in (
                ("concurrency 1", find(rows, "translate_ttft")),
                ("offered 500 req/s", find(rows, "translate_ttft_open")),
            )
            if row
        ),
        *(
            goal(
                "prompt reference added p50 over a plain call, concurrency 1",
                f"<= {PROMPT_ADDED_P50_MAX_MS} ms",
                row.get("added_p50_ms"),
                at_most(row.get("added_p50_ms"), PROMPT_ADDED_P50_MAX_MS),
            )
            for row in (find(rows, "prompt_vs_plain"),)
            if row
        ),
        goal(
            "cold start to first 200 (median)",
            f"<= {COLD_START_MAX_S} s",
            report["cold_start_s"],
            at_most(report["cold_start_s"], COLD_START_MAX_S),
        ),
        goal(
            "RSS idle",
            f"<= {RSS_IDLE_MAX_MB} MB",
            report["rss_idle_mb"],
            at_most(report["rss_idle_mb"], RSS_IDLE_MAX_MB),
        ),
        goal(
            "RSS under load (max)",
            f"<= {RSS_LOAD_MAX_MB} MB",
            report["rss_load_max_mb"],
            at_most(report["rss_load_max_mb"], RSS_LOAD_MAX_MB),
        ),
        goal(
            "ledger rows == requests sent",
            str(report["ledger_expected"]),
            report["ledger_rows"],
            report["ledger_ok"],
        ),
    ]
    soaked = report.get("soak")
    slope = soaked.get("slope_last_half_mb_per_min") if soaked else None
    goals.append(
        goal(
            "RSS flat over the soak (slope, second half)",
            f"<= {RSS_SLOPE_MAX_MB_PER_MIN} MB/min",
            slope,
            at_most(abs(slope), RSS_SLOPE_MAX_MB_PER_MIN) if slope is not None else None,
        )
    )
    lite = report.get("litellm")
    if lite:
        l64 = find(lite["rows"], "closed", "concurrency", 64).get("gateway_rps")
        factor = round(c64["gateway_rps"] / l64, 1) if l64 and c64 else None
        goals.append(
            goal(
                "req/s at concurrency 64 vs LiteLLM",
                f">= {LITELLM_FACTOR_MIN}x",
                factor,
                None if factor is None else factor >= LITELLM_FACTOR_MIN,
            )
        )
    return goals


def fmt(x: Any, nd: int = 2) -> str:
    if x is None:
        return "-"
    return f"{x:.{nd}f}" if isinstance(x, float) else str(x)


#: (header, row key, width, decimals) of the readable table.
COLUMNS = (
    ("gateway", "gateway", 8, None),
    ("mode", "mode", 17, None),
    ("c/rate", "param", 6, None),
    ("gw rps", "gateway_rps", 8, 0),
    ("dir rps", "direct_rps", 8, 0),
    ("gw p50", "gateway_p50_ms", 7, 2),
    ("dir p50", "direct_p50_ms", 7, 2),
    ("+p50", "added_p50_ms", 6, 2),
    ("gw p99", "gateway_p99_ms", 7, 2),
    ("dir p99", "direct_p99_ms", 7, 2),
    ("+p99", "added_p99_ms", 6, 2),
    ("err", "errors", 4, None),
    ("cpu ms/req", "gateway_cpu_ms_per_req", 10, 3),
    ("RSS MB", "gateway_rss_mb", 6, 1),
)


def table_line(cells: list[str]) -> str:
    return " ".join(
        c.ljust(w) if i < 2 else c.rjust(w)
        for i, (c, (_, _, w, _)) in enumerate(zip(cells, COLUMNS, strict=True))
    )


def print_table(report: dict[str, Any]) -> None:
    head = table_line([c[0] for c in COLUMNS])
    print(head)
    print("-" * len(head))
    for r in report["rows"]:
        r = {**r, "param": r.get("concurrency", r.get("rate"))}
        print(table_line([fmt(r[key], nd or 0) for _, key, _, nd in COLUMNS]))
    print(
        f"\ncold start to the first 200, median: {report['cold_start_s']} s with bytecode cached "
        f"{report['cold_start_runs_s']}; {report.get('cold_start_env_as_is_s')} s with the "
        f"environment as is {report.get('cold_start_env_as_is_runs_s')}"
    )
    print(
        f"RSS: ready {report['rss_ready_mb']} MB, idle {report['rss_idle_mb']} MB, "
        f"max under load {report['rss_load_max_mb']} MB"
    )
    if report.get("soak"):
        sk = {k: v for k, v in report["soak"].items() if k != "rss_samples_mb"}
        print(f"soak: {sk}")
    print(
        f"ledger: {report['ledger_rows']} rows, {report['ledger_expected']} requests sent "
        f"-> {'OK' if report['ledger_ok'] else 'MISMATCH'} {report['ledger_by_status']}"
    )
    print(f"load generator at 1000 req/s direct: {report['loadgen_check']}")
    prof = report.get("profile")
    if prof and "self_pct" in prof:
        print(f"\npy-spy at concurrency 64 ({prof['rps_while_profiled']:.0f} req/s while profiled)")
        busy = ", ".join(f"{t} {pct}%" for t, pct in prof["threads_busy_pct_of_wall"])
        print(f"  threads busy (% of wall time): {busy}")
        print("  hottest functions (self, % of samples):")
        for f, pct in prof["self_pct"][:15]:
            print(f"  {pct:5.1f}%  {f}")
    print("\ngoals:")
    for g in report["goals"]:
        flag = {True: "pass", False: "MISS", None: "n/a "}[g["pass"]]
        print(f"  [{flag}] {g['goal']}: {fmt(g['value'])} (target {g['target']})")
    for n in report["notes"]:
        print(f"note: {n}")


def loadgen_check(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Could the open-loop generator sustain its top rate against the bare upstream?"""
    opens = [r for r in rows if r["mode"] == "open" and r["gateway"] == "daytwo"]
    if not opens:
        return {"checked": False}
    r = max(opens, key=lambda r: r["rate"])
    ok = r["direct_rps"] >= LOADGEN_OK_FRACTION * r["rate"] and r["direct_errors"] == 0
    return {
        "checked": True,
        "rate": r["rate"],
        "direct_achieved_rps": r["direct_rps"],
        "direct_send_lag_p99_ms": r.get("direct_send_lag_p99_ms"),
        "ok": ok,
    }
