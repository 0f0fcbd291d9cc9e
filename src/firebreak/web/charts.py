"""Server-rendered SVG charts: no JavaScript, no third-party files, safe under a strict Content-Security-Policy.

Each function returns one `<figure class="chart">` as `markupsafe.Markup`, ready to drop into a template:

- the SVG scales with its container (a viewBox and no fixed width) and carries `role="img"`, a `<title>`
  and an `aria-label` summing the figures up, so a screen reader announces what the picture says;
- a legend in HTML, and a visually hidden table with every number, so nothing is only in the picture;
- colours come from classes (`series-0` … `series-7`, `series-red`, `series-yellow`, `series-green`)
  defined in static/charts.css; there is no `style=` attribute anywhere, which the page's CSP forbids;
- every label is escaped (and characters XML cannot carry are dropped), so a hostile team or channel name
  renders as text; the output is well-formed XML as well as HTML.

With nothing to show (no periods, or every count zero) a chart renders a "No data yet" note instead.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

# The drawing's own coordinate system; the browser scales it to the container's width.
WIDTH = 480
HEIGHT = 220
MARGIN_LEFT = 50
MARGIN_RIGHT = 10
MARGIN_TOP = 12
MARGIN_BOTTOM = 28
MAX_X_LABELS = 6
MAX_NAME_CHARS = 42
CHAR_WIDTH = 6.2  # an 11px system-ui character, on average, in the drawing's units

PALETTE = tuple(f"series-{i}" for i in range(8))
NAMED_COLOURS = {"red": "series-red", "yellow": "series-yellow", "green": "series-green"}
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def stacked_bars(
    labels: Sequence[str],
    series: Mapping[str, Sequence[int]],
    *,
    title: str,
    colors: Mapping[str, str] | None = None,
    key_heading: str = "Period",
) -> Markup:
    """Counts per period, one stacked bar per period, one segment per series (e.g. mentions by flag).

    `colors` maps a series name to a colour: "red", "yellow", "green" or "0".."7"; the rest take the palette.
    """
    _check_lengths(labels, series)
    for name, values in series.items():
        if any(v < 0 for v in values):
            raise ValueError(f"stacked_bars: series {name!r} has a negative count")
    classes = _series_classes(series, colors)
    totals = [sum(values[i] for values in series.values()) for i in range(len(labels))]
    grand_total = sum(totals)
    if not labels or not series or grand_total == 0:
        return _empty(title)
    scale = _Scale.fit(0, max(totals))
    plot = _Plot(len(labels))
    parts = [scale.grid(plot)]
    for i, label in enumerate(labels):
        bottom = 0
        x, width = plot.band(i)
        for name, values in series.items():
            value = values[i]
            if value <= 0:
                continue
            y_top, y_bottom = scale.y(bottom + value), scale.y(bottom)
            parts.append(
                f'<rect class="chart-bar {classes[name]}" x="{x:.1f}" y="{y_top:.1f}" width="{width:.1f}" '
                f'height="{max(y_bottom - y_top, 0.5):.1f}"><title>{_text(label)}: {_text(name)} '
                f"{_number(value)}</title></rect>"
            )
            bottom += value
    parts.append(plot.x_labels(labels))
    per_series = "; ".join(f"{name} {_number(sum(values))}" for name, values in series.items())
    summary = f"{title}: {_number(grand_total)} in total over {len(labels)} periods; {per_series}."
    return _figure(
        title,
        summary,
        "".join(parts),
        legend=[(name, classes[name]) for name in series],
        table=_table(title, key_heading, labels, series),
    )


def lines(
    labels: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    *,
    title: str,
    colors: Mapping[str, str] | None = None,
    key_heading: str = "Period",
) -> Markup:
    """Values per period as lines; a None value (no measurement) leaves a gap. Values may be negative."""
    _check_lengths(labels, series)
    classes = _series_classes(series, colors)
    present = [v for values in series.values() for v in values if v is not None]
    if not labels or not present:
        return _empty(title)
    scale = _Scale.fit(min(0.0, min(present)), max(present))
    plot = _Plot(len(labels))
    parts = [scale.grid(plot)]
    for name, values in series.items():
        run: list[str] = []
        runs: list[list[str]] = [run]
        for i, value in enumerate(values):
            if value is None:
                run = []
                runs.append(run)
                continue
            x, y = plot.centre(i), scale.y(value)
            run.append(f"{x:.1f},{y:.1f}")
            parts.append(
                f'<circle class="chart-point {classes[name]}" cx="{x:.1f}" cy="{y:.1f}" r="2.5">'
                f"<title>{_text(labels[i])}: {_text(name)} {_number(value)}</title></circle>"
            )
        for points in runs:
            if len(points) > 1:
                parts.append(f'<polyline class="chart-line {classes[name]}" points="{" ".join(points)}"/>')
    parts.append(plot.x_labels(labels))
    latest = []
    for name, values in series.items():
        measured = [v for v in values if v is not None]
        if measured:
            latest.append(f"{name} from {_number(measured[0])} to {_number(measured[-1])}")
        else:
            latest.append(f"{name} no data")
    summary = f"{title}: {len(labels)} periods; {'; '.join(latest)}."
    return _figure(
        title,
        summary,
        "".join(parts),
        legend=[(name, classes[name]) for name in series],
        table=_table(title, key_heading, labels, series),
    )


def histogram(
    bucket_labels: Sequence[str],
    counts: Sequence[int],
    *,
    title: str,
    key_heading: str = "Range",
) -> Markup:
    """How many fall in each bucket (e.g. first responses by time taken); the count is printed on each bar."""
    if len(bucket_labels) != len(counts):
        raise ValueError(f"histogram: {len(bucket_labels)} bucket labels but {len(counts)} counts")
    if any(c < 0 for c in counts):
        raise ValueError("histogram: counts cannot be negative")
    total = sum(counts)
    if not counts or total == 0:
        return _empty(title)
    scale = _Scale.fit(0, max(counts))
    plot = _Plot(len(counts), gap=0.08)
    parts = [scale.grid(plot)]
    for i, (label, count) in enumerate(zip(bucket_labels, counts, strict=True)):
        x, width = plot.band(i)
        y_top, y_bottom = scale.y(count), scale.y(0)
        if count > 0:
            parts.append(
                f'<rect class="chart-bar series-0" x="{x:.1f}" y="{y_top:.1f}" width="{width:.1f}" '
                f'height="{max(y_bottom - y_top, 0.5):.1f}"><title>{_text(label)}: {_number(count)}</title></rect>'
            )
        if len(_number(count)) * CHAR_WIDTH <= plot.band_width:  # too narrow: the tooltip and table still say
            parts.append(
                f'<text class="chart-value" x="{x + width / 2:.1f}" y="{max(y_top - 3, 9):.1f}" '
                f'text-anchor="middle">{_number(count)}</text>'
            )
    parts.append(plot.x_labels(bucket_labels, every_label=True))
    busiest = max(range(len(counts)), key=lambda i: counts[i])
    summary = f"{title}: {_number(total)} in total; most in {bucket_labels[busiest]} ({_number(counts[busiest])})."
    return _figure(
        title,
        summary,
        "".join(parts),
        legend=[],
        table=_table(title, key_heading, bucket_labels, {"Count": counts}),
    )


def horizontal_bars(
    items: Sequence[tuple[str, float]],
    *,
    title: str,
    unit: str = "%",
    key_heading: str = "Name",
) -> Markup:
    """One labelled bar per item (e.g. SLA compliance per team); with unit "%" the axis runs 0 to 100."""
    if not items:
        return _empty(title)
    values = [value for _, value in items]
    if any(v < 0 for v in values):
        raise ValueError("horizontal_bars: values cannot be negative")
    if unit == "%" and any(v > 100 for v in values):
        raise ValueError("horizontal_bars: a percentage cannot exceed 100")
    top = 100.0 if unit == "%" else _Scale.fit(0, max(values)).top
    row_height = 34
    height = MARGIN_TOP + row_height * len(items) + 4
    left, right = 4, WIDTH - 62
    parts = []
    for i, (name, value) in enumerate(items):
        y = MARGIN_TOP + i * row_height
        width = (right - left) * (value / top) if top else 0
        parts.append(f'<text class="chart-name" x="{left}" y="{y + 10}">{_text(_shorten(name))}</text>')
        parts.append(f'<rect class="chart-track" x="{left}" y="{y + 15}" width="{right - left}" height="12"/>')
        if width > 0:
            parts.append(
                f'<rect class="chart-bar series-0" x="{left}" y="{y + 15}" width="{max(width, 0.5):.1f}" '
                f'height="12"><title>{_text(name)}: {_number(value)}{_text(unit)}</title></rect>'
            )
        parts.append(f'<text class="chart-value" x="{right + 6}" y="{y + 25}">{_number(value)}{_text(unit)}</text>')
    summary = f"{title}: " + "; ".join(f"{name} {_number(value)}{unit}" for name, value in items) + "."
    heading = f"Value ({unit})" if unit else "Value"
    return _figure(
        title,
        summary,
        "".join(parts),
        legend=[],
        table=_table(title, key_heading, [name for name, _ in items], {heading: values}),
        height=height,
    )


# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Scale:
    """A vertical axis from `bottom` to `top` with round-numbered grid lines every `step`."""

    bottom: float
    top: float
    step: float

    @classmethod
    def fit(cls, low: float, high: float) -> _Scale:
        """Round the range out to steps of 1, 2, 2.5 or 5 times a power of ten, about four steps in all."""
        span = high - low
        if span <= 0:
            span = abs(high) or 1.0
        raw = span / 4
        magnitude = 10 ** math.floor(math.log10(raw))
        step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
        if step < 1 and low == 0 and float(high).is_integer():
            step = 1.0  # counts: no half-mention grid lines
        bottom = math.floor(low / step) * step
        top = math.ceil(high / step) * step
        if top <= bottom:
            top = bottom + step
        return cls(bottom, top, step)

    def y(self, value: float) -> float:
        plot_height = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
        return MARGIN_TOP + plot_height * (1 - (value - self.bottom) / (self.top - self.bottom))

    def grid(self, plot: _Plot) -> str:
        parts = []
        steps = round((self.top - self.bottom) / self.step)
        for k in range(steps + 1):
            value = self.bottom + k * self.step
            value = 0.0 if abs(value) < self.step / 1000 else value  # no "-0" from rounding
            y = self.y(value)
            kind = "chart-axis" if value == 0 else "chart-grid"
            parts.append(f'<line class="{kind}" x1="{MARGIN_LEFT}" x2="{plot.right}" y1="{y:.1f}" y2="{y:.1f}"/>')
            parts.append(
                f'<text class="chart-tick" x="{MARGIN_LEFT - 5}" y="{y + 3.5:.1f}" text-anchor="end">'
                f"{_number(value)}</text>"
            )
        return "".join(parts)


@dataclass(frozen=True)
class _Plot:
    """The horizontal layout: `count` equal bands between the axis and the right edge."""

    count: int
    gap: float = 0.2
    right: float = WIDTH - MARGIN_RIGHT

    @property
    def band_width(self) -> float:
        return (self.right - MARGIN_LEFT) / self.count

    def band(self, i: int) -> tuple[float, float]:
        inner = self.band_width * (1 - self.gap)
        return MARGIN_LEFT + i * self.band_width + (self.band_width - inner) / 2, inner

    def centre(self, i: int) -> float:
        return MARGIN_LEFT + (i + 0.5) * self.band_width

    def x_labels(self, labels: Sequence[str], *, every_label: bool = False) -> str:
        """Label at most MAX_X_LABELS periods (every bucket of a histogram), evenly spread, and never closer
        than the longest label is wide, so they cannot overlap however narrow the screen."""
        widest = max((len(label) for label in labels), default=0) * CHAR_WIDTH + 6
        stride = max(1 if every_label else math.ceil(len(labels) / MAX_X_LABELS),
                     math.ceil(widest / self.band_width))
        y = HEIGHT - MARGIN_BOTTOM + 14
        return "".join(
            f'<text class="chart-tick" x="{self.centre(i):.1f}" y="{y}" text-anchor="middle">{_text(labels[i])}</text>'
            for i in range(0, len(labels), stride)
        )


def _check_lengths(labels: Sequence[str], series: Mapping[str, Sequence[float | None]]) -> None:
    for name, values in series.items():
        if len(values) != len(labels):
            raise ValueError(f"series {name!r} has {len(values)} values for {len(labels)} labels")


def _series_classes(series: Mapping[str, object], colors: Mapping[str, str] | None) -> dict[str, str]:
    chosen = dict(colors or {})
    unknown = set(chosen) - set(series)
    if unknown:
        raise ValueError(f"colors names series that are not charted: {sorted(unknown)}")
    classes = {}
    for i, name in enumerate(series):
        colour = chosen.get(name)
        if colour is None:
            classes[name] = PALETTE[i % len(PALETTE)]
        elif colour in NAMED_COLOURS:
            classes[name] = NAMED_COLOURS[colour]
        elif colour.isdigit() and int(colour) < len(PALETTE):
            classes[name] = PALETTE[int(colour)]
        else:
            raise ValueError(f"colour {colour!r} for series {name!r}: use red, yellow, green or 0-7")
    return classes


def _text(value: object) -> Markup:
    """Escape for HTML and XML alike, dropping control characters that XML cannot carry at all."""
    return escape(_NOT_XML.sub("", str(value)))


def _number(value: float) -> str:
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def _shorten(name: str) -> str:
    return name if len(name) <= MAX_NAME_CHARS else name[: MAX_NAME_CHARS - 1] + "…"


def _figure(
    title: str,
    summary: str,
    body: str,
    *,
    legend: list[tuple[str, str]],
    table: str,
    height: int = HEIGHT,
) -> Markup:
    legend_html = ""
    if legend:
        legend_html = (
            '<ul class="chart-legend">'
            + "".join(f'<li><span class="chart-swatch {css}"></span>{_text(name)}</li>' for name, css in legend)
            + "</ul>"
        )
    return Markup(
        f'<figure class="chart"><figcaption class="chart-title">{_text(title)}</figcaption>'
        f'<svg class="chart-svg" viewBox="0 0 {WIDTH} {height}" width="100%" preserveAspectRatio="xMidYMid meet" '
        f'role="img" aria-label="{_text(summary)}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{_text(title)}</title>{body}</svg>{legend_html}{table}</figure>"
    )


def _table(title: str, key_heading: str, keys: Sequence[str], columns: Mapping[str, Sequence[float | None]]) -> str:
    head = f'<th scope="col">{_text(key_heading)}</th>' + "".join(
        f'<th scope="col">{_text(name)}</th>' for name in columns
    )
    rows = "".join(
        f'<tr><th scope="row">{_text(key)}</th>'
        + "".join(f"<td>{'–' if values[i] is None else _number(values[i])}</td>" for values in columns.values())
        + "</tr>"
        for i, key in enumerate(keys)
    )
    # Hidden by its wrapper: a table ignores the 1px width that hides an element, a div does not.
    return (
        f'<div class="chart-data"><table><caption>{_text(title)}</caption><thead><tr>{head}</tr></thead>'
        f"<tbody>{rows}</tbody></table></div>"
    )


def _empty(title: str) -> Markup:
    return Markup(
        f'<figure class="chart chart-empty"><figcaption class="chart-title">{_text(title)}</figcaption>'
        '<p class="chart-none">No data yet</p></figure>'
    )
