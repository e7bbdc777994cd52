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

from flask_babel import gettext, ngettext
from markupsafe import Markup, escape

from idp.admin.svg import (
    HEIGHT,
    PATTERNS,
    SVG_NS,
    WIDTH,
    Plot,
    attrs,
    axes,
    day_label,
    empty,
    figure,
    float_range,
    long_day_label,
    nice_step,
    num,
    pattern_fills,
    percent,
    series_style,
    svg_root,
)

__all__ = ["HEIGHT", "PATTERNS", "WIDTH", "nice_step", "rate_line", "series_style", "stacked_bars"]

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
        return empty(
            id_prefix,
            ngettext(
                "No data yet: no text messages in the last %(num)d day.",
                "No data yet: no text messages in the last %(num)d days.",
                len(days),
            ),
        )
    step = nice_step(max(totals))
    top = step * math.ceil(max(totals) / step)
    plot = Plot(len(days), top)
    fills, defs = pattern_fills(id_prefix, len(names))
    ticks = [(value, str(int(value))) for value in float_range(0, top, step)]
    body = [defs, *axes(plot, days, ticks, y_title, locale)]
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
                "%(name)s, %(day)s: %(count)s",
                name=name,
                day=long_day_label(day, locale),
                count=value,
            )
            body.append(
                f"<rect {attrs(x=num(plot.x(index) - bar_width / 2), y=num(y_top))} "
                f"{attrs(width=num(bar_width), height=num(y_bottom - y_top))} "
                f'{attrs(fill=fills[position])} class="chart-bar">'
                f"<title>{escape(tip)}</title></rect>"
            )
    body.append("</g>")
    per_name = [(name, sum(series[name])) for name in names]
    summary = gettext(
        "%(title)s: %(total)s in %(days)s days (%(first)s to %(last)s). %(parts)s.",
        title=title,
        total=grand,
        days=len(days),
        first=day_label(days[0], locale),
        last=day_label(days[-1], locale),
        parts="; ".join(f"{name}: {count}" for name, count in per_name),
    )
    legend = "".join(
        f'<li><svg xmlns="{SVG_NS}" class="chart-swatch" viewBox="0 0 16 16" width="16" '
        f'height="16" aria-hidden="true" focusable="false"><rect x=".5" y=".5" width="15" '
        f'height="15" {attrs(fill=fills[i], stroke=series_style(i)[0])}/></svg> '
        f'<span><span dir="auto">{escape(name)}</span> <span class="muted">({count})</span></span>'
        "</li>"
        for i, (name, count) in enumerate(per_name)
    )
    head = "".join(f'<th scope="col" class="num" dir="auto">{escape(name)}</th>' for name in names)
    rows = "".join(
        f'<tr><th scope="row">{escape(long_day_label(day, locale))}</th>'
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
        f'<table class="compact" {attrs(id=f"{id_prefix}-data")}>'
        f"<caption>{escape(title)}</caption>"
        f'<thead><tr><th scope="col">{escape(gettext("Day (UTC)"))}</th>{head}'
        f'<th scope="col" class="num">{escape(gettext("Total"))}</th></tr></thead>'
        f"<tbody>{rows}</tbody><tfoot>{foot}</tfoot></table>"
    )
    return figure(id_prefix, svg_root(title, summary, body), legend, table)


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
        return empty(
            id_prefix,
            ngettext(
                "No data yet: no codes sent in the last %(num)d day.",
                "No data yet: no codes sent in the last %(num)d days.",
                len(days),
            ),
        )
    plot = Plot(len(days), 1)
    ticks = [(share, percent(share)) for share in (0, 0.25, 0.5, 0.75, 1)]
    body = [*axes(plot, days, ticks, gettext("Verify rate"), locale)]
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
            day=long_day_label(day, locale),
            verified=verified[index],
            sent=sent[index],
            rate=percent(share),
        )
        points.append(
            f'<circle {attrs(cx=num(point[0]), cy=num(point[1]))} r="4" '
            f'fill="#fff" stroke="currentColor" stroke-width="2">'
            f"<title>{escape(tip)}</title></circle>"
        )
    body.append('<g class="chart-line" fill="none">')
    for run in runs:
        line = " ".join(f"{num(x)},{num(y)}" for x, y in run)
        if len(run) > 1:
            area = (
                f"M{num(run[0][0])},{num(plot.bottom)} L{line.replace(' ', ' L')} "
                f"L{num(run[-1][0])},{num(plot.bottom)} Z"
            )
            body.append(f'<path {attrs(d=area)} fill="currentColor" fill-opacity=".12"/>')
            body.append(
                f'<polyline {attrs(points=line)} stroke="currentColor" stroke-width="2.5" '
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
        rate=percent(total_verified / total_sent),
        low=percent(low_rate),
        low_day=day_label(low_day, locale),
    )
    rows = "".join(
        f'<tr><th scope="row">{escape(long_day_label(day, locale))}</th>'
        f'<td class="num">{sent[i]}</td><td class="num">{verified[i]}</td>'
        f'<td class="num">{escape(percent(verified[i] / sent[i])) if sent[i] else "–"}</td></tr>'
        for i, day in enumerate(days)
    )
    foot = (
        f'<tr><th scope="row">{escape(gettext("Total"))}</th><td class="num">{total_sent}</td>'
        f'<td class="num">{total_verified}</td>'
        f'<td class="num">{escape(percent(total_verified / total_sent))}</td></tr>'
    )
    table = (
        f'<table class="compact" {attrs(id=f"{id_prefix}-data")}>'
        f"<caption>{escape(title)}</caption>"
        f'<thead><tr><th scope="col">{escape(gettext("Day (UTC)"))}</th>'
        f'<th scope="col" class="num">{escape(gettext("Codes sent"))}</th>'
        f'<th scope="col" class="num">{escape(gettext("Verified"))}</th>'
        f'<th scope="col" class="num">{escape(gettext("Verify rate"))}</th></tr></thead>'
        f"<tbody>{rows}</tbody><tfoot>{foot}</tfoot></table>"
    )
    return figure(id_prefix, svg_root(title, summary, body), "", table)
