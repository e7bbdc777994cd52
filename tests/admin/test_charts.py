"""The dashboard's charts (idp/admin/charts.py): inline SVG from fixed series, read back as XML."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET  # noqa: S405 - parses our own output
from datetime import date, timedelta

import pytest
from markupsafe import Markup

from idp.admin import charts

SVG = "{http://www.w3.org/2000/svg}"
DAYS = [date(2026, 1, 5) - timedelta(days=n) for n in range(13, -1, -1)]


def parse(markup: Markup) -> ET.Element:
    assert isinstance(markup, Markup)
    return ET.fromstring(str(markup))  # noqa: S314 - our own output


def bars(figure: ET.Element) -> list[ET.Element]:
    return [rect for rect in figure.iter(f"{SVG}rect") if rect.get("class") == "chart-bar"]


def svg_of(figure: ET.Element) -> ET.Element:
    svg = figure.find(f"{SVG}svg")
    assert svg is not None
    return svg


def series(*pairs: tuple[int, int]) -> list[int]:
    """14 zeros with (index, value) pairs set."""
    values = [0] * 14
    for index, value in pairs:
        values[index] = value
    return values


def stacked(names: dict[str, list[int]], **kwargs) -> Markup:
    return charts.stacked_bars(
        DAYS, names, id_prefix="sms", title="Text messages", y_title="Messages", **kwargs
    )


def rate(sent: list[int], verified: list[int]) -> Markup:
    return charts.rate_line(DAYS, sent, verified, id_prefix="rate", title="Codes verified")


# -- stacked bars -------------------------------------------------------------------------------


def test_one_bar_segment_per_verifier_and_day_with_messages():
    figure = parse(stacked({"alpha": series((0, 2), (13, 3)), "beta": series((13, 1), (12, 4))}))

    assert len(bars(figure)) == 4
    svg = svg_of(figure)
    assert svg.get("role") == "img"
    assert svg.get("viewBox") == f"0 0 {charts.WIDTH} {charts.HEIGHT}"
    assert svg.get("width") == "100%"
    assert svg.findtext(f"{SVG}title") == "Text messages"
    label = svg.get("aria-label")
    assert label == ("Text messages: 10 in 14 days (23 Dec to 5 Jan). alpha: 5; beta: 5.")


def test_bar_heights_follow_the_values():
    figure = parse(stacked({"alpha": series((13, 4)), "beta": series((13, 2))}))

    heights = [float(bar.get("height", 0)) for bar in bars(figure)]
    assert heights[0] == pytest.approx(2 * heights[1], rel=0.01)
    tips = [bar.findtext(f"{SVG}title") for bar in bars(figure)]
    assert tips == ["alpha, Mon 5 Jan: 4", "beta, Mon 5 Jan: 2"]


def test_every_verifier_has_its_own_colour_and_pattern_and_a_legend_entry():
    names = {f"v{n}": series((13, n + 1)) for n in range(7)}

    figure = parse(stacked(names))

    styles = [charts.series_style(n) for n in range(7)]
    assert len(set(styles)) == 7  # colour and pattern together tell them apart
    assert {pattern for _, pattern in styles[:6]} == set(charts.PATTERNS)
    fills = [bar.get("fill") for bar in bars(figure)]
    assert len(set(fills)) == 7
    patterns = {p.get("id") for p in figure.iter(f"{SVG}pattern")}
    assert {fill[5:-1] for fill in fills if fill and fill.startswith("url(")} <= patterns
    legend = figure.find("ul[@class='chart-legend']")
    assert legend is not None
    entries = ["".join(li.itertext()).strip() for li in legend]
    assert entries == [f"v{n} ({n + 1})" for n in range(7)]


def test_names_are_escaped_everywhere():
    evil = '<script>alert("x")</script> & "quotes"'

    markup = stacked({evil: series((13, 1))})

    assert "<script>" not in markup
    figure = parse(markup)  # still well-formed
    assert evil in svg_of(figure).get("aria-label", "")
    assert any(evil in "".join(li.itertext()) for li in figure.iter("li"))
    assert any(th.text == evil for th in figure.iter("th"))


def test_no_script_no_inline_style_no_event_handlers():
    markup = str(stacked({"alpha": series((13, 1))})) + str(rate(series((13, 2)), series((13, 1))))

    assert "<script" not in markup and "style=" not in markup
    assert not re.search(r"\son[a-z]+=", markup)


def test_the_table_has_the_same_numbers():
    figure = parse(stacked({"alpha": series((0, 2), (13, 3)), "beta": series((13, 1))}))

    details = figure.find("details")
    assert details is not None and details.findtext("summary") == "Show the numbers"
    table = details.find(".//table")
    assert table is not None and table.findtext("caption") == "Text messages"
    head = [th.text for th in table.findall("./thead/tr/th")]
    assert head == ["Day (UTC)", "alpha", "beta", "Total"]
    rows = table.findall("./tbody/tr")
    assert len(rows) == 14
    assert rows[0].findtext("th") == "Tue 23 Dec"
    assert [td.text for td in rows[0].findall("td")] == ["2", "0", "2"]
    assert [td.text for td in rows[-1].findall("td")] == ["3", "1", "4"]
    assert [td.text for td in table.findall("./tfoot/tr/td")] == ["5", "1", "6"]


def test_the_y_axis_is_labelled_in_round_steps():
    figure = parse(stacked({"alpha": series((13, 37))}))

    labels = [text.text for text in figure.iter(f"{SVG}text")]
    assert labels[:5] == ["0", "10", "20", "30", "40"]
    assert "Messages" in labels and "Day (UTC)" in labels
    assert "5 Jan" in labels and "23 Dec" not in labels  # every other day, today always


@pytest.mark.parametrize(("largest", "step"), [(1, 1), (3, 1), (7, 2), (37, 10), (120, 50)])
def test_nice_steps(largest, step):
    assert charts.nice_step(largest) == step


def test_no_messages_gives_a_friendly_figure():
    for markup in (stacked({}), stacked({"alpha": [0] * 14})):
        figure = parse(markup)
        assert "chart-empty" in figure.get("class", "")
        assert figure.findtext("figcaption") == (
            "No data yet: no text messages in the last 14 days."
        )
        assert bars(figure) == []
        assert svg_of(figure).get("aria-hidden") == "true"


def test_dates_follow_the_language():
    figure = parse(stacked({"alpha": series((13, 1))}, locale="nl"))

    assert "5 jan" in [text.text for text in figure.iter(f"{SVG}text")]


# -- verify rate --------------------------------------------------------------------------------


def test_the_rate_line_has_a_point_per_day_with_codes_and_gaps_between():
    sent = series((0, 4), (1, 2), (5, 10), (12, 5), (13, 5))
    verified = series((0, 4), (1, 1), (5, 7), (12, 5), (13, 2))

    figure = parse(rate(sent, verified))

    points = list(figure.iter(f"{SVG}circle"))
    assert len(points) == 5
    tips = [point.findtext(f"{SVG}title") for point in points]
    assert tips[0] == "Tue 23 Dec: 4 of 4 codes verified (100 %)"
    assert tips[2] == "Sun 28 Dec: 7 of 10 codes verified (70 %)"
    lines = list(figure.iter(f"{SVG}polyline"))
    assert len(lines) == 2  # days 0-1 and 12-13; day 5 stands alone
    assert svg_of(figure).get("aria-label") == (
        "Codes verified: 19 of 26 codes verified in 14 days (73 %); lowest 40 % on 5 Jan."
    )
    # 100 % is at the top of the plot, 40 % lower down.
    assert float(points[0].get("cy", 0)) < float(points[-1].get("cy", 0))


def test_the_rate_table_shows_a_dash_for_days_without_codes():
    figure = parse(rate(series((13, 4)), series((13, 3))))

    rows = figure.findall(".//table/tbody/tr")
    assert [td.text for td in rows[0].findall("td")] == ["0", "0", "–"]
    assert [td.text for td in rows[-1].findall("td")] == ["4", "3", "75 %"]
    assert [td.text for td in figure.findall(".//table/tfoot/tr/td")] == ["4", "3", "75 %"]
    labels = [text.text for text in figure.iter(f"{SVG}text")]
    assert labels[:5] == ["0 %", "25 %", "50 %", "75 %", "100 %"]


def test_no_codes_gives_a_friendly_figure():
    figure = parse(rate([0] * 14, [0] * 14))

    assert figure.findtext("figcaption") == "No data yet: no codes sent in the last 14 days."
    assert list(figure.iter(f"{SVG}circle")) == []
