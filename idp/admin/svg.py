"""SVG drawing pieces the admin charts share: sizes, number formatting, axes, the patterns
that tell series apart without colour, and the ``<figure>`` around a chart.

Every outside text goes through ``escape``; nothing here uses script or inline style.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date

from babel.dates import format_date
from flask_babel import gettext
from markupsafe import Markup, escape

WIDTH = 440
HEIGHT = 240
#: Room around the plot: y tick labels and the y-axis title on the left, days and the
#: x-axis title below.
LEFT, RIGHT, TOP, BOTTOM = 60, 24, 12, 46
SVG_NS = "http://www.w3.org/2000/svg"

#: Colours with at least 3:1 contrast on white (WCAG 1.4.11), told apart by patterns too.
PALETTE = ("#0b5cad", "#b45309", "#1b7837", "#762a83", "#c51b7d", "#5c4a1e")
PATTERNS = ("solid", "stripes", "dots", "cross", "horizontal", "vertical")


def num(value: float) -> str:
    """A coordinate: at most two decimals, no trailing zeros."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def attrs(**values: object) -> str:
    """``name="value"`` pairs, escaped; ``_`` in a name becomes ``-`` (stroke_width)."""
    return " ".join(
        f'{name.rstrip("_").replace("_", "-")}="{escape(str(value))}"'
        for name, value in values.items()
        if value is not None
    )


def nice_step(largest: float, ticks: int = 4) -> int:
    """A round step (1, 2 or 5 times a power of ten, at least 1: these are counts) that
    covers *largest* in about *ticks* steps."""
    rough = largest / ticks
    if rough <= 1:
        return 1
    power = 10 ** math.floor(math.log10(rough))
    return next(f * power for f in (1, 2, 5, 10) if f * power >= rough)


def percent(share: float) -> str:
    return f"{round(share * 100)} %"


def day_label(day: date, locale: str) -> str:
    return format_date(day, "d MMM", locale=locale)


def long_day_label(day: date, locale: str) -> str:
    return format_date(day, "EEE d MMM", locale=locale)


def label_every(count: int) -> int:
    """Label every day up to a week, else every other day (today always)."""
    return 1 if count <= 7 else 2


class Plot:
    """Where things go on the plot: one band per day, a y scale from 0 to *top*."""

    def __init__(self, days: int, top: float) -> None:
        self.days = max(days, 1)
        self.top = top or 1
        self.width = WIDTH - LEFT - RIGHT
        self.height = HEIGHT - TOP - BOTTOM
        self.band = self.width / self.days

    def x(self, index: int) -> float:
        """The centre of day *index*'s band."""
        return LEFT + (index + 0.5) * self.band

    def y(self, value: float) -> float:
        return TOP + self.height - value / self.top * self.height

    @property
    def bottom(self) -> float:
        return TOP + self.height


def axes(
    plot: Plot,
    days: Sequence[date],
    ticks: Sequence[tuple[float, str]],
    y_title: str,
    locale: str,
) -> list[str]:
    """Grid lines with their labels, the days below, and both axis titles."""
    parts = ['<g class="chart-axes" fill="currentColor" font-size="13">']
    for value, label in ticks:
        y = num(plot.y(value))
        parts.append(
            f'<line {attrs(x1=LEFT, x2=WIDTH - RIGHT, y1=y, y2=y)} stroke="currentColor" '
            f'stroke-opacity="{".5" if value == 0 else ".15"}"/>'
        )
        parts.append(
            f'<text {attrs(x=LEFT - 6, y=num(plot.y(value) + 4))} text-anchor="end">'
            f"{escape(label)}</text>"
        )
    every = label_every(len(days))
    last = len(days) - 1
    for index, day in enumerate(days):
        if (last - index) % every:
            continue
        parts.append(
            f"<text {attrs(x=num(plot.x(index)), y=num(plot.bottom + 18))} "
            f'text-anchor="middle" font-size="12">{escape(day_label(day, locale))}</text>'
        )
    middle = num(TOP + plot.height / 2)
    parts.append(
        f"<text {attrs(x=0, y=0, transform=f'translate(11 {middle}) rotate(-90)')} "
        f'text-anchor="middle">{escape(y_title)}</text>'
    )
    parts.append(
        f'<text {attrs(x=num(LEFT + plot.width / 2), y=HEIGHT - 6)} text-anchor="middle">'
        f"{escape(gettext('Day (UTC)'))}</text>"
    )
    parts.append("</g>")
    return parts


def svg_root(title: str, label: str, body: Sequence[str], height: int = HEIGHT) -> str:
    return (
        f'<svg xmlns="{SVG_NS}" class="chart-svg" {attrs(viewBox=f"0 0 {WIDTH} {height}")} '
        f'width="100%" role="img" {attrs(aria_label=label)} '
        f'preserveAspectRatio="xMidYMid meet" focusable="false">'
        f"<title>{escape(title)}</title>{''.join(body)}</svg>"
    )


def empty(id_prefix: str, message: str) -> Markup:
    """The friendly figure for no data: an empty frame, and a sentence that says so (HTML,
    so it wraps on a narrow screen; the frame is decoration)."""
    height = 120
    bars = "".join(
        f'<rect x="{80 + n * 42}" y="{height - 22 - h}" width="26" height="{h}" rx="3" '
        'fill="currentColor" fill-opacity=".08"/>'
        for n, h in enumerate((24, 40, 30, 56, 44, 70, 52))
    )
    svg = (
        f'<svg xmlns="{SVG_NS}" class="chart-svg" viewBox="0 0 {WIDTH} {height}" width="100%" '
        'aria-hidden="true" focusable="false">'
        f'<rect x="1" y="1" width="{WIDTH - 2}" height="{height - 2}" rx="8" fill="none" '
        'stroke="currentColor" stroke-opacity=".3" stroke-dasharray="6 4"/>'
        f'<line x1="56" x2="{WIDTH - 56}" y1="{height - 22}" y2="{height - 22}" '
        f'stroke="currentColor" stroke-opacity=".3"/>{bars}</svg>'
    )
    return Markup(  # noqa: S704 - built here; every outside text passed through escape()
        f'<figure class="chart chart-empty" {attrs(id=id_prefix)}>{svg}'
        f"<figcaption>{escape(message)}</figcaption></figure>"
    )


# -- patterns -----------------------------------------------------------------------------------


def series_style(index: int) -> tuple[str, str]:
    """The colour and pattern of the *index*-th series."""
    return PALETTE[index % len(PALETTE)], PATTERNS[(index + index // len(PALETTE)) % len(PATTERNS)]


def pattern(pattern_id: str, colour: str, kind: str) -> str:
    lines = {
        "stripes": '<line x1="0" y1="0" x2="0" y2="8" stroke="#fff" stroke-width="3"/>',
        "cross": '<line x1="0" y1="0" x2="0" y2="8" stroke="#fff" stroke-width="2"/>'
        '<line x1="0" y1="0" x2="8" y2="0" stroke="#fff" stroke-width="2"/>',
        "horizontal": '<line x1="0" y1="4" x2="8" y2="4" stroke="#fff" stroke-width="2.5"/>',
        "vertical": '<line x1="4" y1="0" x2="4" y2="8" stroke="#fff" stroke-width="2.5"/>',
        "dots": '<circle cx="4" cy="4" r="1.6" fill="#fff"/>',
    }[kind]
    turn = ' patternTransform="rotate(45)"' if kind in ("stripes", "cross") else ""
    return (
        f'<pattern {attrs(id=pattern_id)} width="8" height="8" patternUnits="userSpaceOnUse"'
        f'{turn}><rect width="8" height="8" {attrs(fill=colour)}/>{lines}</pattern>'
    )


def pattern_fills(id_prefix: str, count: int) -> tuple[list[str], str]:
    """Per series, what to fill with (a colour, or a pattern of it); and the ``<defs>``."""
    fills, defs = [], []
    for index in range(count):
        colour, kind = series_style(index)
        if kind == "solid":
            fills.append(colour)
            continue
        pattern_id = f"{id_prefix}-pattern-{index}"
        defs.append(pattern(pattern_id, colour, kind))
        fills.append(f"url(#{pattern_id})")
    return fills, f"<defs>{''.join(defs)}</defs>" if defs else ""


def float_range(start: float, stop: float, step: float) -> list[float]:
    count = int(round((stop - start) / step))
    return [start + n * step for n in range(count + 1)]


def figure(id_prefix: str, svg: str, legend: str, table: str) -> Markup:
    legend_list = f'<ul class="chart-legend">{legend}</ul>' if legend else ""
    return Markup(  # noqa: S704 - built here; every outside text passed through escape()
        f'<figure class="chart" {attrs(id=id_prefix)}>{svg}{legend_list}'
        f'<details class="chart-data"><summary>{escape(gettext("Show the numbers"))}</summary>'
        f'<div class="table-wrap" tabindex="0">{table}</div></details></figure>'
    )
