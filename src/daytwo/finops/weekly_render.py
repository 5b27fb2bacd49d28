"""The weekly review as ONE self-contained HTML file and as a short Markdown summary.

The HTML loads nothing: inline CSS (light and dark through ``prefers-color-scheme``), inline
SVG charts drawn from :mod:`daytwo.finops.weekly_svg`, no script, and a Content-Security-Policy
that forbids every source. Jinja2 autoescapes every value, so a workflow or prompt named
``<script>`` shows as text.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from daytwo.core.money import format_usd
from daytwo.finops.weekly import WeeklyReport
from daytwo.finops.weekly_forecast import NOT_AVAILABLE
from daytwo.finops.weekly_svg import Chart, daily_bars, hbars

TEMPLATES = Path(__file__).parent / "templates"
TEMPLATE = "weekly.html.j2"
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; connect-src 'none'; "
    "font-src 'none'; script-src 'none'; base-uri 'none'; form-action 'none'"
)


def usd(nanos: int | None) -> str:
    return "n/a" if nanos is None else format_usd(nanos, 2)


def signed_usd(nanos: int) -> str:
    return ("+" if nanos > 0 else "-" if nanos < 0 else "±") + format_usd(abs(nanos), 2)


def pct(value: float | None) -> str:
    return "new" if value is None else f"{value:+.1f}%"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "ongoing"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def window_label(r: WeeklyReport) -> str:
    last = r.end - timedelta(seconds=1)
    return f"{r.start:%Y-%m-%d %H:%M} – {last:%Y-%m-%d %H:%M} UTC"


def markdown(r: WeeklyReport) -> str:
    """The summary for chat and the sinks: 5-8 lines."""
    t = r.total
    cost, before = t.totals.cost_nanousd, t.previous.cost_nanousd
    lines = [
        f"*daytwo weekly review* ({window_label(r)})",
        f"- Spend: {usd(cost)} ({signed_usd(cost - before)}, {pct(t.change_pct)} week over week; "
        f"{t.totals.calls:,} calls)",
    ]
    if r.movers:
        m = r.movers[0]
        lines.append(
            f"- Top driver: {m.dim} `{m.key or '(none)'}` {signed_usd(m.change_nanousd)} "
            f"({usd(m.previous_nanousd)} → {usd(m.cost_nanousd)})"
        )
    if r.opportunities:
        o = r.opportunities[0]
        amount = "unknown" if o.monthly_nanousd is None else f"{usd(o.monthly_nanousd)}/month"
        lines.append(f"- Top opportunity: {o.title} ({amount}): `{o.command}`")
    open_ = sum(1 for i in r.incidents if i.ended_at is None)
    lines.append(
        f"- Incidents: {len(r.incidents)} ({open_} open); alerts fired: {len(r.alerts_fired)} "
        f"(previous week {r.previous_alerts_fired}), resolved: {len(r.alerts_resolved)}"
    )
    if r.forecast is not None:
        f = r.forecast.total
        lines.append(
            f"- Month-end forecast: {usd(f.month_end_nanousd)} "
            f"({usd(f.low_nanousd)}–{usd(f.high_nanousd)}, {f.coverage:.0%} interval)"
        )
    decisions = r.decisions
    lines.append(
        "- Needs a decision: " + ("; ".join(decisions[:2]) if decisions else "nothing this week")
    )
    return "\n".join(lines) + "\n"


def html(r: WeeklyReport) -> str:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(usd=usd, signed_usd=signed_usd, pct=pct, duration=duration)
    return env.get_template(TEMPLATE).render(
        csp=CSP,
        r=r,
        j=r.to_json(),
        window=window_label(r),
        generated=f"{r.generated_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC",
        charts=_charts(r),
        not_available=NOT_AVAILABLE,
        when=_when,
    )


def _charts(r: WeeklyReport) -> dict[str, Chart]:
    days = [f"{r.start + timedelta(days=i):%a %d}" for i in range(len(r.daily))]
    out = {"daily": daily_bars("Spend per day", r.daily, r.previous_daily, days)}
    for dim, report in r.spend.items():
        rows = [(g.key or "(none)", g.cost_nanousd, g.previous_cost_nanousd) for g in report.groups]
        if rows:
            out[dim] = hbars(f"Spend by {dim}", rows)
    return out


def _when(ts: Any) -> str:
    if ts is None:
        return "—"
    value = ts if isinstance(ts, datetime) else datetime.fromtimestamp(float(ts), UTC)
    return f"{value.astimezone(UTC):%a %d %b %H:%M}"
