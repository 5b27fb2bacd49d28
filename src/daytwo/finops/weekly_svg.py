"""Chart geometry for the weekly review's inline SVG: pure arithmetic from figures to boxes.

The template draws the shapes and escapes every label; nothing here writes markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from daytwo.core.money import format_usd

WIDTH = 640
BAR_H = 18
GAP = 6
LABEL_W = 180
AXIS_H = 20


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    w: float
    h: float
    #: ``now`` or ``before``: the CSS class that colours it.
    kind: str
    title: str


@dataclass(frozen=True, slots=True)
class Label:
    x: float
    y: float
    text: str
    anchor: str = "start"


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    bars: tuple[Bar, ...]
    labels: tuple[Label, ...]
    title: str


def daily_bars(title: str, now: Sequence[int], before: Sequence[int], days: Sequence[str]) -> Chart:
    """Grouped columns per day: this window's spend next to the same day of the window before."""
    height = 200
    plot_h = height - AXIS_H - 16
    peak = max([*now, *before, 1])
    n = max(len(now), 1)
    slot = WIDTH / n
    w = slot * 0.35
    bars, labels = [], []
    for i, day in enumerate(days[:n]):
        x0 = i * slot + slot * 0.12
        for j, (kind, values) in enumerate((("before", before), ("now", now))):
            value = values[i] if i < len(values) else 0
            h = plot_h * value / peak
            which = "previous week" if kind == "before" else "this week"
            bars.append(
                Bar(
                    x0 + j * w,
                    16 + plot_h - h,
                    w,
                    h,
                    kind,
                    f"{day} ({which}): {format_usd(value, 2)}",
                )
            )
        labels.append(Label(i * slot + slot / 2, height - 6, day, "middle"))
    labels.append(Label(0, 11, f"peak day {format_usd(peak, 2)}"))
    return Chart(WIDTH, height, tuple(bars), tuple(labels), title)


def hbars(title: str, rows: Sequence[tuple[str, int, int]]) -> Chart:
    """One row per (label, now, before): two thin horizontal bars, this week over last."""
    peak = max([v for _, a, b in rows for v in (a, b)] + [1])
    plot_w = WIDTH - LABEL_W - 90
    bars, labels = [], []
    for i, (label, now, before) in enumerate(rows):
        y = i * (BAR_H + GAP)
        labels.append(Label(LABEL_W - 6, y + BAR_H * 0.75, _clip(label), "end"))
        bars.append(
            Bar(LABEL_W, y, plot_w * before / peak, BAR_H / 2 - 1, "before",
                f"{label} previous week: {format_usd(before, 2)}")
        )  # fmt: skip
        bars.append(
            Bar(LABEL_W, y + BAR_H / 2, plot_w * now / peak, BAR_H / 2 - 1, "now",
                f"{label} this week: {format_usd(now, 2)}")
        )  # fmt: skip
        labels.append(Label(LABEL_W + plot_w + 6, y + BAR_H * 0.75, format_usd(now, 2)))
    height = max(len(rows), 1) * (BAR_H + GAP)
    return Chart(WIDTH, height, tuple(bars), tuple(labels), title)


def _clip(text: str, most: int = 28) -> str:
    return text if len(text) <= most else text[: most - 1] + "…"
