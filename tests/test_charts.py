"""The server-rendered SVG charts: well-formed, accessible, CSP-safe, escaped, and honest about their numbers."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from markupsafe import Markup

from firebreak.web import charts

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = "<script>alert(\"x\")</script> & 'quoted' \x00\x07"


def parse(markup: Markup) -> ET.Element:
    assert isinstance(markup, Markup)
    return ET.fromstring(str(markup))


def table_rows(figure: ET.Element) -> list[list[str]]:
    hidden = figure.find("div")
    assert hidden is not None and hidden.get("class") == "chart-data"
    table = hidden.find("table")
    assert table is not None
    return [["".join(cell.itertext()) for cell in row] for row in table.iter("tr")]


def no_style_anywhere(figure: ET.Element) -> None:
    for element in figure.iter():
        assert "style" not in element.attrib, element.tag
        assert not any(name.startswith("on") for name in element.attrib), element.tag


def test_stacked_bars_are_accessible_and_carry_every_number() -> None:
    figure = parse(
        charts.stacked_bars(
            ["Mon", "Tue", "Wed"],
            {"red": [1, 0, 2], "yellow": [0, 3, 4], "green": [10, 1200, 0]},
            title="Mentions by flag",
            colors={"red": "red", "yellow": "yellow", "green": "green"},
        )
    )
    svg = figure.find(f"{SVG}svg")
    assert svg is not None
    assert svg.get("role") == "img"
    assert svg.get("viewBox") == f"0 0 {charts.WIDTH} {charts.HEIGHT}"
    assert svg.get("width") == "100%"
    assert svg.find(f"{SVG}title").text == "Mentions by flag"
    assert svg.get("aria-label") == ("Mentions by flag: 1,220 in total over 3 periods; red 3; yellow 7; green 1,210.")
    assert table_rows(figure) == [
        ["Period", "red", "yellow", "green"],
        ["Mon", "1", "0", "10"],
        ["Tue", "0", "3", "1,200"],
        ["Wed", "2", "4", "0"],
    ]
    bars = [rect for rect in svg.iter(f"{SVG}rect") if "chart-bar" in rect.get("class", "")]
    # Zero segments are not drawn: 6 non-zero values, 6 segments, coloured by class.
    assert len(bars) == 6
    assert {bar.get("class") for bar in bars} == {
        "chart-bar series-red",
        "chart-bar series-yellow",
        "chart-bar series-green",
    }
    legend = [li for li in figure.iter("li")]
    assert ["".join(li.itertext()) for li in legend] == ["red", "yellow", "green"]
    no_style_anywhere(figure)


def test_stacked_bar_heights_are_proportional_and_stack() -> None:
    svg = parse(charts.stacked_bars(["a", "b"], {"x": [4, 1], "y": [4, 0]}, title="t")).find(f"{SVG}svg")
    bars = [r for r in svg.iter(f"{SVG}rect")]
    heights = [float(r.get("height")) for r in bars]
    # The scale runs 0..8: bar a is two halves filling the plot, bar b one eighth of it.
    plot = charts.HEIGHT - charts.MARGIN_TOP - charts.MARGIN_BOTTOM
    assert heights == pytest.approx([plot / 2, plot / 2, plot / 8], abs=0.1)
    first, second = bars[0], bars[1]
    assert float(second.get("y")) + float(second.get("height")) == pytest.approx(float(first.get("y")), abs=0.1)


def test_hostile_labels_are_escaped_everywhere() -> None:
    outputs = [
        charts.stacked_bars([HOSTILE], {HOSTILE: [3]}, title=HOSTILE),
        charts.lines([HOSTILE, "b"], {HOSTILE: [0.5, None]}, title=HOSTILE),
        charts.histogram([HOSTILE], [2], title=HOSTILE),
        charts.horizontal_bars([(HOSTILE, 50.0)], title=HOSTILE),
        charts.stacked_bars([], {}, title=HOSTILE),
    ]
    for markup in outputs:
        text = str(markup)
        assert "<script>" not in text
        assert "\x00" not in text and "\x07" not in text
        figure = parse(markup)  # still well-formed XML
        assert figure.find("figcaption").text == HOSTILE.replace("\x00", "").replace("\x07", "")
        no_style_anywhere(figure)


def test_empty_data_says_so() -> None:
    for markup in [
        charts.stacked_bars([], {}, title="Volume"),
        charts.stacked_bars(["Mon", "Tue"], {"red": [0, 0]}, title="Volume"),
        charts.lines(["Mon"], {"sentiment": [None]}, title="Volume"),
        charts.histogram(["<5m", "5-15m"], [0, 0], title="Volume"),
        charts.horizontal_bars([], title="Volume"),
    ]:
        figure = parse(markup)
        assert "chart-empty" in figure.get("class")
        assert figure.find("p").text == "No data yet"
        assert figure.find(f"{SVG}svg") is None


def test_lines_leave_gaps_and_handle_negative_values() -> None:
    figure = parse(
        charts.lines(
            ["1", "2", "3", "4", "5"],
            {"score": [-0.5, -0.25, None, 0.25, 0.75], "count": [1, 2, 3, 4, 5]},
            title="Sentiment",
        )
    )
    svg = figure.find(f"{SVG}svg")
    polylines = list(svg.iter(f"{SVG}polyline"))
    # "score" is broken by its gap into two runs; "count" is one.
    assert [len(p.get("points").split()) for p in polylines] == [2, 2, 5]
    assert len(list(svg.iter(f"{SVG}circle"))) == 9
    ticks = [t.text for t in svg.iter(f"{SVG}text") if t.get("text-anchor") == "end"]
    assert ticks[0] == "-2" and ticks[-1] == "6"
    assert "0" in ticks and "-0" not in ticks
    assert table_rows(figure)[1:] == [
        ["1", "-0.5", "1"],
        ["2", "-0.25", "2"],
        ["3", "–", "3"],
        ["4", "0.25", "4"],
        ["5", "0.75", "5"],
    ]
    assert svg.get("aria-label") == "Sentiment: 5 periods; score from -0.5 to 0.75; count from 1 to 5."


def test_many_periods_label_only_a_few() -> None:
    labels = [f"d{i}" for i in range(90)]
    svg = parse(charts.stacked_bars(labels, {"n": list(range(90))}, title="90 days")).find(f"{SVG}svg")
    x_labels = [t.text for t in svg.iter(f"{SVG}text") if t.get("text-anchor") == "middle"]
    assert len(x_labels) <= charts.MAX_X_LABELS
    assert x_labels[0] == "d0"


def test_histogram_prints_counts_and_summarises_the_busiest_bucket() -> None:
    figure = parse(charts.histogram(["<5m", "5–15m", "15–60m", ">1h"], [12, 40, 7, 0], title="First response"))
    svg = figure.find(f"{SVG}svg")
    values = [t.text for t in svg.iter(f"{SVG}text") if t.get("class") == "chart-value"]
    assert values == ["12", "40", "7", "0"]
    assert svg.get("aria-label") == "First response: 59 in total; most in 5–15m (40)."
    assert table_rows(figure)[1:] == [["<5m", "12"], ["5–15m", "40"], ["15–60m", "7"], [">1h", "0"]]


def test_horizontal_bars_scale_percentages_to_100() -> None:
    figure = parse(charts.horizontal_bars([("Care", 100.0), ("Billing", 50.0), ("Legal", 0.0)], title="SLA met"))
    svg = figure.find(f"{SVG}svg")
    tracks = [r for r in svg.iter(f"{SVG}rect") if r.get("class") == "chart-track"]
    bars = [r for r in svg.iter(f"{SVG}rect") if "chart-bar" in r.get("class")]
    assert len(tracks) == 3 and len(bars) == 2  # a zero bar is only its track
    assert float(bars[0].get("width")) == pytest.approx(float(tracks[0].get("width")))
    assert float(bars[1].get("width")) == pytest.approx(float(tracks[1].get("width")) / 2)
    assert table_rows(figure) == [["Name", "Value (%)"], ["Care", "100"], ["Billing", "50"], ["Legal", "0"]]
    assert svg.get("aria-label") == "SLA met: Care 100%; Billing 50%; Legal 0%."


def test_bad_input_is_refused_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match="series 'red' has 1 values for 2 labels"):
        charts.stacked_bars(["a", "b"], {"red": [1]}, title="t")
    with pytest.raises(ValueError, match="negative"):
        charts.stacked_bars(["a"], {"red": [-1]}, title="t")
    with pytest.raises(ValueError, match="colour 'purple' for series 'red'"):
        charts.stacked_bars(["a"], {"red": [1]}, title="t", colors={"red": "purple"})
    with pytest.raises(ValueError, match="not charted"):
        charts.stacked_bars(["a"], {"red": [1]}, title="t", colors={"blue": "0"})
    with pytest.raises(ValueError, match="exceed 100"):
        charts.horizontal_bars([("a", 101.0)], title="t")
    with pytest.raises(ValueError, match="2 bucket labels but 1 counts"):
        charts.histogram(["a", "b"], [1], title="t")


def test_every_colour_class_is_defined_in_the_stylesheet() -> None:
    from pathlib import Path

    css = (Path(charts.__file__).parent / "static" / "charts.css").read_text()
    for css_class in [*charts.PALETTE, *charts.NAMED_COLOURS.values(), "chart-data", "chart-bar", "chart-line"]:
        assert f".{css_class} " in css or f".{css_class}," in css, css_class
