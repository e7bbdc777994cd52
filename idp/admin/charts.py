"""Charts for the admin dashboard, drawn on the server as inline SVG: no script, no CDN.

Each function takes plain series and returns one ``<figure>`` (markup that is also valid
XML): the chart, a text legend, and the same numbers as a table inside ``<details>`` for
whoever cannot see the chart. The SVG has ``role="img"``, a ``<title>`` and an
``aria-label`` that sums up the data. Colour is never the only cue: each verifier also has
its own pattern, and the legend names it. Everything that came from outside (verifier names)
is escaped, and the drawing scales to its box (``viewBox``, width 100 %) without script or
inline style, which the Content-Security-Policy forbids.

Presentation attributes (``fill``, ``stroke``) are allowed by that policy; text and axes use
``currentColor``, so they follow the page's colours, forced colours included.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date

from babel.dates import format_date
from flask_babel import gettext, ngettext
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


def _num(value: float) -> str:
    """A coordinate: at most two decimals, no trailing zeros."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _attrs(**values: object) -> str:
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


def _percent(share: float) -> str:
    return f"{round(share * 100)} %"


def _day(day: date, locale: str) -> str:
    return format_date(day, "d MMM", locale=locale)


def _long_day(day: date, locale: str) -> str:
    return format_date(day, "EEE d MMM", locale=locale)


def _label_every(count: int) -> int:
    """Label every day up to a week, else every other day (today always)."""
    return 1 if count <= 7 else 2


class _Plot:
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


def _axes(
    plot: _Plot,
    days: Sequence[date],
    ticks: Sequence[tuple[float, str]],
    y_title: str,
    locale: str,
) -> list[str]:
    """Grid lines with their labels, the days below, and both axis titles."""
    parts = ['<g class="chart-axes" fill="currentColor" font-size="13">']
    for value, label in ticks:
        y = _num(plot.y(value))
        parts.append(
            f'<line {_attrs(x1=LEFT, x2=WIDTH - RIGHT, y1=y, y2=y)} stroke="currentColor" '
            f'stroke-opacity="{".5" if value == 0 else ".15"}"/>'
        )
        parts.append(
            f'<text {_attrs(x=LEFT - 6, y=_num(plot.y(value) + 4))} text-anchor="end">'
            f"{escape(label)}</text>"
        )
    every = _label_every(len(days))
    last = len(days) - 1
    for index, day in enumerate(days):
        if (last - index) % every:
            continue
        parts.append(
            f"<text {_attrs(x=_num(plot.x(index)), y=_num(plot.bottom + 18))} "
            f'text-anchor="middle" font-size="12">{escape(_day(day, locale))}</text>'
        )
    middle = _num(TOP + plot.height / 2)
    parts.append(
        f"<text {_attrs(x=0, y=0, transform=f'translate(11 {middle}) rotate(-90)')} "
        f'text-anchor="middle">{escape(y_title)}</text>'
    )
    parts.append(
        f'<text {_attrs(x=_num(LEFT + plot.width / 2), y=HEIGHT - 6)} text-anchor="middle">'
        f"{escape(gettext('Day (UTC)'))}</text>"
    )
    parts.append("</g>")
    return parts


def _svg(title: str, label: str, body: Sequence[str], height: int = HEIGHT) -> str:
    return (
        f'<svg xmlns="{SVG_NS}" class="chart-svg" {_attrs(viewBox=f"0 0 {WIDTH} {height}")} '
        f'width="100%" role="img" {_attrs(aria_label=label)} '
        f'preserveAspectRatio="xMidYMid meet" focusable="false">'
        f"<title>{escape(title)}</title>{''.join(body)}</svg>"
    )


def _empty(id_prefix: str, message: str) -> Markup:
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
        f'<figure class="chart chart-empty" {_attrs(id=id_prefix)}>{svg}'
        f"<figcaption>{escape(message)}</figcaption></figure>"
    )


# -- patterns -----------------------------------------------------------------------------------


def series_style(index: int) -> tuple[str, str]:
    """The colour and pattern of the *index*-th series."""
    return PALETTE[index % len(PALETTE)], PATTERNS[(index + index // len(PALETTE)) % len(PATTERNS)]


def _pattern(pattern_id: str, colour: str, kind: str) -> str:
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
        f'<pattern {_attrs(id=pattern_id)} width="8" height="8" patternUnits="userSpaceOnUse"'
        f'{turn}><rect width="8" height="8" {_attrs(fill=colour)}/>{lines}</pattern>'
    )


def _fills(id_prefix: str, count: int) -> tuple[list[str], str]:
    """Per series, what to fill with (a colour, or a pattern of it); and the ``<defs>``."""
    fills, defs = [], []
    for index in range(count):
        colour, kind = series_style(index)
        if kind == "solid":
            fills.append(colour)
            continue
        pattern_id = f"{id_prefix}-pattern-{index}"
        defs.append(_pattern(pattern_id, colour, kind))
        fills.append(f"url(#{pattern_id})")
    return fills, f"<defs>{''.join(defs)}</defs>" if defs else ""


# -- messages per day, stacked by verifier ------------------------------------------------------


def stacked_bars(
    days: Sequence[date],
    series: Mapping[str, Sequence[int]],
    *,
    id_prefix: str,
    title: str,
    y_title: str,
    locale: str = "en",
) -> Markup:
    """A bar per day, stacked by series (a verifier's text messages), with a legend and a
    table. *series* maps a name to one number per day of *days* (oldest first)."""
    names = [name for name, values in series.items() if sum(values)]
    totals = [sum(series[name][i] for name in names) for i in range(len(days))]
    grand = sum(totals)
    if not days or grand == 0:
        return _empty(
            id_prefix,
            ngettext(
                "No data yet: no text messages in the last %(num)d day.",
                "No data yet: no text messages in the last %(num)d days.",
                len(days),
            ),
        )
    step = nice_step(max(totals))
    top = step * math.ceil(max(totals) / step)
    plot = _Plot(len(days), top)
    fills, defs = _fills(id_prefix, len(names))
    ticks = [(value, str(int(value))) for value in _range(0, top, step)]
    body = [defs, *_axes(plot, days, ticks, y_title, locale)]
    bar_width = plot.band * 0.64
    body.append('<g class="chart-bars" stroke="#fff" stroke-width="1">')
    for index, day in enumerate(days):
        base = 0
        for position, name in enumerate(names):
            value = series[name][index]
            if not value:
                continue
            y_top, y_bottom = plot.y(base + value), plot.y(base)
            base += value
            tip = gettext(
                "%(name)s, %(day)s: %(count)s", name=name, day=_long_day(day, locale), count=value
            )
            body.append(
                f"<rect {_attrs(x=_num(plot.x(index) - bar_width / 2), y=_num(y_top))} "
                f"{_attrs(width=_num(bar_width), height=_num(y_bottom - y_top))} "
                f'{_attrs(fill=fills[position])} class="chart-bar">'
                f"<title>{escape(tip)}</title></rect>"
            )
    body.append("</g>")
    per_name = [(name, sum(series[name])) for name in names]
    summary = gettext(
        "%(title)s: %(total)s in %(days)s days (%(first)s to %(last)s). %(parts)s.",
        title=title,
        total=grand,
        days=len(days),
        first=_day(days[0], locale),
        last=_day(days[-1], locale),
        parts="; ".join(f"{name}: {count}" for name, count in per_name),
    )
    legend = "".join(
        f'<li><svg xmlns="{SVG_NS}" class="chart-swatch" viewBox="0 0 16 16" width="16" '
        f'height="16" aria-hidden="true" focusable="false"><rect x=".5" y=".5" width="15" '
        f'height="15" {_attrs(fill=fills[i], stroke=series_style(i)[0])}/></svg> '
        f'<span><span dir="auto">{escape(name)}</span> <span class="muted">({count})</span></span>'
        "</li>"
        for i, (name, count) in enumerate(per_name)
    )
    head = "".join(f'<th scope="col" class="num" dir="auto">{escape(name)}</th>' for name in names)
    rows = "".join(
        f'<tr><th scope="row">{escape(_long_day(day, locale))}</th>'
        + "".join(f'<td class="num">{series[name][i]}</td>' for name in names)
        + f'<td class="num">{totals[i]}</td></tr>'
        for i, day in enumerate(days)
    )
    foot = (
        f'<tr><th scope="row">{escape(gettext("Total"))}</th>'
        + "".join(f'<td class="num">{count}</td>' for _, count in per_name)
        + f'<td class="num">{grand}</td></tr>'
    )
    table = (
        f'<table class="compact" {_attrs(id=f"{id_prefix}-data")}>'
        f"<caption>{escape(title)}</caption>"
        f'<thead><tr><th scope="col">{escape(gettext("Day (UTC)"))}</th>{head}'
        f'<th scope="col" class="num">{escape(gettext("Total"))}</th></tr></thead>'
        f"<tbody>{rows}</tbody><tfoot>{foot}</tfoot></table>"
    )
    return _figure(id_prefix, _svg(title, summary, body), legend, table)


def _range(start: float, stop: float, step: float) -> list[float]:
    count = int(round((stop - start) / step))
    return [start + n * step for n in range(count + 1)]


def _figure(id_prefix: str, svg: str, legend: str, table: str) -> Markup:
    legend_list = f'<ul class="chart-legend">{legend}</ul>' if legend else ""
    return Markup(  # noqa: S704 - built here; every outside text passed through escape()
        f'<figure class="chart" {_attrs(id=id_prefix)}>{svg}{legend_list}'
        f'<details class="chart-data"><summary>{escape(gettext("Show the numbers"))}</summary>'
        f'<div class="table-wrap" tabindex="0">{table}</div></details></figure>'
    )


# -- verify rate per day ------------------------------------------------------------------------


def rate_line(
    days: Sequence[date],
    sent: Sequence[int],
    verified: Sequence[int],
    *,
    id_prefix: str,
    title: str,
    locale: str = "en",
) -> Markup:
    """The share of codes sent each day that were typed in, 0 to 100 %, as a line over an
    area; a day without codes is a gap, not a zero."""
    total_sent, total_verified = sum(sent), sum(verified)
    if not days or total_sent == 0:
        return _empty(
            id_prefix,
            ngettext(
                "No data yet: no codes sent in the last %(num)d day.",
                "No data yet: no codes sent in the last %(num)d days.",
                len(days),
            ),
        )
    plot = _Plot(len(days), 1)
    ticks = [(share, _percent(share)) for share in (0, 0.25, 0.5, 0.75, 1)]
    body = [*_axes(plot, days, ticks, gettext("Verify rate"), locale)]
    runs: list[list[tuple[float, float]]] = []
    points = []
    previous = False
    for index, day in enumerate(days):
        if not sent[index]:
            previous = False
            continue
        share = verified[index] / sent[index]
        point = (plot.x(index), plot.y(share))
        if not previous:
            runs.append([])
        runs[-1].append(point)
        previous = True
        tip = gettext(
            "%(day)s: %(verified)s of %(sent)s codes verified (%(rate)s)",
            day=_long_day(day, locale),
            verified=verified[index],
            sent=sent[index],
            rate=_percent(share),
        )
        points.append(
            f'<circle {_attrs(cx=_num(point[0]), cy=_num(point[1]))} r="4" '
            f'fill="#fff" stroke="currentColor" stroke-width="2">'
            f"<title>{escape(tip)}</title></circle>"
        )
    body.append('<g class="chart-line" fill="none">')
    for run in runs:
        line = " ".join(f"{_num(x)},{_num(y)}" for x, y in run)
        if len(run) > 1:
            area = (
                f"M{_num(run[0][0])},{_num(plot.bottom)} L{line.replace(' ', ' L')} "
                f"L{_num(run[-1][0])},{_num(plot.bottom)} Z"
            )
            body.append(f'<path {_attrs(d=area)} fill="currentColor" fill-opacity=".12"/>')
            body.append(
                f'<polyline {_attrs(points=line)} stroke="currentColor" stroke-width="2.5" '
                'stroke-linejoin="round"/>'
            )
    body.append("</g>")
    body.append(f'<g class="chart-points">{"".join(points)}</g>')
    rates = [(verified[i] / sent[i], day) for i, day in enumerate(days) if sent[i]]
    low_rate, low_day = min(rates, key=lambda item: item[0])
    summary = gettext(
        "%(title)s: %(verified)s of %(sent)s codes verified in %(days)s days (%(rate)s); "
        "lowest %(low)s on %(low_day)s.",
        title=title,
        verified=total_verified,
        sent=total_sent,
        days=len(days),
        rate=_percent(total_verified / total_sent),
        low=_percent(low_rate),
        low_day=_day(low_day, locale),
    )
    rows = "".join(
        f'<tr><th scope="row">{escape(_long_day(day, locale))}</th>'
        f'<td class="num">{sent[i]}</td><td class="num">{verified[i]}</td>'
        f'<td class="num">{escape(_percent(verified[i] / sent[i])) if sent[i] else "–"}</td></tr>'
        for i, day in enumerate(days)
    )
    foot = (
        f'<tr><th scope="row">{escape(gettext("Total"))}</th><td class="num">{total_sent}</td>'
        f'<td class="num">{total_verified}</td>'
        f'<td class="num">{escape(_percent(total_verified / total_sent))}</td></tr>'
    )
    table = (
        f'<table class="compact" {_attrs(id=f"{id_prefix}-data")}>'
        f"<caption>{escape(title)}</caption>"
        f'<thead><tr><th scope="col">{escape(gettext("Day (UTC)"))}</th>'
        f'<th scope="col" class="num">{escape(gettext("Codes sent"))}</th>'
        f'<th scope="col" class="num">{escape(gettext("Verified"))}</th>'
        f'<th scope="col" class="num">{escape(gettext("Verify rate"))}</th></tr></thead>'
        f"<tbody>{rows}</tbody><tfoot>{foot}</tfoot></table>"
    )
    return _figure(id_prefix, _svg(title, summary, body), "", table)
