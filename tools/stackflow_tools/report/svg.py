"""The report's two charts as inline SVG on one time axis.

``timeline_svg``: one row per state, one bar per run (a failed run in the failure
colour). ``traffic_svg``: the alias's traffic share per version (a step line each) and,
below it on the same axis, each version's error rate per metric period. Both use the
same horizontal scale, so a bar and the traffic change it caused line up. Colours come
from CSS classes (``s0`` previous, ``s1`` new), so the page's light, dark and print
styles apply; the previous version's line is also dashed, for a grey printout.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape

from stackflow_tools.report.model import Report, StateRun, VersionLine
from stackflow_tools.report.text import count_of, duration, elapsed, percent, state_groups

WIDTH = 960
LEFT = 150  # the state names and panel titles
RIGHT = 28
ROW = 20
AXIS = 26  # the tick labels under a chart
WEIGHT_PANEL = 150
RATE_PANEL = 110
GAP = 50
NICE_SECONDS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800,
                21600, 43200, 86400)
NICE_RATES = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
MAX_TICKS = 10
MAX_MARKER_LABELS = 6


@dataclass(frozen=True)
class Axis:
    """Release time → x coordinate."""

    start: datetime
    seconds: float
    left: float = LEFT
    width: float = WIDTH - LEFT - RIGHT

    def x(self, moment: datetime) -> float:
        return self.at((moment - self.start).total_seconds())

    def at(self, seconds: float) -> float:
        share = seconds / self.seconds if self.seconds > 0 else 0.0
        return round(self.left + self.width * min(1.0, max(0.0, share)), 1)

    def ticks(self) -> list[float]:
        """Seconds since the start at which a labelled grid line is drawn."""
        step = next((s for s in NICE_SECONDS if self.seconds / s <= MAX_TICKS),
                    NICE_SECONDS[-1])
        count = int(self.seconds // step)
        return [i * step for i in range(count + 1)]


def axis_of(report: Report) -> Axis:
    return Axis(report.started_at, report.seconds)


def timeline_svg(report: Report) -> str:
    """One row per state (in the order first entered), one bar per run."""
    axis = axis_of(report)
    names = [group.name for group in state_groups(report.states)]
    height = len(names) * ROW + AXIS + 6
    parts = [_open("timeline", height, f"Timeline of {len(report.states)} state runs of "
                                       f"{report.name}")]
    parts += _grid(axis, 0, len(names) * ROW, height - 8)
    for row, name in enumerate(names):
        y = row * ROW
        parts.append(f'<text class="label" x="{LEFT - 8}" y="{y + 14}" '
                     f'text-anchor="end">{escape(name)}</text>')
        parts += [_bar(axis, run, y) for run in report.states if run.name == name]
    parts.append("</svg>")
    return "\n".join(parts)


def _bar(axis: Axis, run: StateRun, y: float) -> str:
    # Each bar carries its run as a tooltip (<title>), the one interaction without script.
    start = axis.x(run.started_at)
    end = axis.x(run.ended_at) if run.ended_at else axis.at(axis.seconds)
    kind = "failed" if run.failed else run.kind.lower()
    tip = f"{run.name}: {duration(run.seconds)}"
    if run.error:
        tip += f" - {run.error}"
    return (f'<rect class="bar {kind}" x="{start}" y="{y + 3}" '
            f'width="{max(2.0, round(end - start, 1))}" height="{ROW - 6}" rx="2">'
            f'<title>{escape(tip)}</title></rect>')


def traffic_svg(report: Report) -> str:
    """Traffic share per version, and each version's error rate under it."""
    axis = axis_of(report)
    rate_top = WEIGHT_PANEL + GAP
    height = rate_top + RATE_PANEL + AXIS + 6
    parts = [_open("traffic", height, f"Traffic share and error rate per version of "
                                      f"{report.name}")]
    parts += _grid(axis, 0, rate_top + RATE_PANEL, height - 8)
    parts += _weight_panel(report, axis)
    parts += _rate_panel(report, axis, rate_top)
    parts += _markers(report, axis, rate_top + RATE_PANEL)
    parts.append("</svg>")
    return "\n".join(parts)


def _weight_panel(report: Report, axis: Axis) -> list[str]:
    parts = [_panel_title("traffic share", WEIGHT_PANEL / 2),
             *_y_labels((1.0, 0.5, 0.0), 0, WEIGHT_PANEL, 1.0)]
    for index, line in enumerate(report.versions):
        points = _step_points(line, axis, report.until)
        parts.append(f'<polyline class="series s{index} weight" data-version="'
                     f'{escape(line.version)}" points="{points}">'
                     f'<title>version {escape(line.version)} ({line.role}): traffic share'
                     f'</title></polyline>')
    return parts


def _step_points(line: VersionLine, axis: Axis, until: datetime) -> str:
    """The share as a step line: flat until the next change, then straight up or down."""
    coords: list[tuple[float, float]] = []
    for moment, share in line.weights:
        x = axis.x(moment)
        if coords:
            coords.append((x, coords[-1][1]))
        coords.append((x, _y(share, 0, WEIGHT_PANEL, 1.0)))
    if coords:
        coords.append((axis.x(until), coords[-1][1]))
    return " ".join(f"{x},{y}" for x, y in coords)


def _rate_panel(report: Report, axis: Axis, top: float) -> list[str]:
    rates = [s.rate for line in report.versions for s in line.samples if s.rate is not None]
    scale = next((n for n in NICE_RATES if max(rates, default=0.0) <= n), 1.0)
    parts = [_panel_title("error rate", top + RATE_PANEL / 2),
             *_y_labels((scale, scale / 2, 0.0), top, RATE_PANEL, scale)]
    if not rates:
        why = report.metrics_note or "no requests through the alias were recorded"
        parts.append(f'<text class="empty" x="{axis.left + axis.width / 2}" '
                     f'y="{top + RATE_PANEL / 2}" text-anchor="middle">{escape(why)}</text>')
        return parts
    period = float(report.period_seconds or 60)
    for index, line in enumerate(report.versions):
        parts += _rate_series(line, index, axis, top, scale, period)
    return parts


def _rate_series(line: VersionLine, index: int, axis: Axis, top: float,
                 scale: float, period: float) -> list[str]:
    """Each sample as a level across its metric period (CloudWatch sums a period and
    stamps its start), joined where periods meet, with a dot carrying the numbers."""
    samples = [s for s in line.samples if s.rate is not None]
    if not samples:
        return []
    path: list[str] = []
    dots: list[str] = []
    previous_end: float | None = None
    for sample in samples:
        x0, y = axis.x(sample.at), _y(sample.rate or 0.0, top, RATE_PANEL, scale)
        x1 = axis.x(sample.at + timedelta(seconds=period))
        path.append(f"{'L' if previous_end == x0 else 'M'}{x0},{y} L{x1},{y}")
        previous_end = x1
        tip = (f"version {line.version}: {count_of(sample.errors, 'error')} of "
               f"{count_of(sample.invocations, 'request')} ({percent(sample.rate)})")
        dots.append(f'<circle class="dot s{index}{" bad" if sample.errors else ""}" '
                    f'cx="{round((x0 + x1) / 2, 1)}" cy="{y}" r="3.5">'
                    f"<title>{escape(tip)}</title></circle>")
    return [f'<path class="series s{index} rate" data-version="{escape(line.version)}" '
            f'd="{" ".join(path)}"/>', *dots]


def _markers(report: Report, axis: Axis, bottom: float) -> list[str]:
    """A dashed line at each traffic change, labelled when there are few."""
    parts: list[str] = []
    labelled = len(report.traffic) <= MAX_MARKER_LABELS
    for step in report.traffic:
        x = axis.x(step.at)
        parts.append(f'<line class="marker" x1="{x}" y1="0" x2="{x}" y2="{bottom}"/>')
        if labelled:
            anchor = "end" if x > axis.left + axis.width * 0.8 else "start"
            dx = -4 if anchor == "end" else 4
            parts.append(f'<text class="marker-label" x="{x + dx}" y="{WEIGHT_PANEL + 14}" '
                         f'text-anchor="{anchor}">{escape(step.label)}: '
                         f'{percent(step.weight)} new</text>')
    return parts


def _grid(axis: Axis, top: float, bottom: float, label_y: float) -> list[str]:
    parts: list[str] = []
    for seconds in axis.ticks():
        x = axis.at(seconds)
        parts.append(f'<line class="grid" x1="{x}" y1="{top}" x2="{x}" y2="{bottom}"/>')
        parts.append(f'<text class="tick" x="{x}" y="{label_y}" '
                     f'text-anchor="middle">{elapsed(seconds)}</text>')
    return parts


def _y_labels(values: Sequence[float], top: float, height: float,
              scale: float) -> list[str]:
    parts: list[str] = []
    for value in values:
        y = _y(value, top, height, scale)
        parts.append(f'<line class="grid" x1="{LEFT}" y1="{y}" x2="{WIDTH - RIGHT}" '
                     f'y2="{y}"/>')
        parts.append(f'<text class="tick" x="{LEFT - 6}" y="{y + 4}" '
                     f'text-anchor="end">{percent(value)}</text>')
    return parts


def _panel_title(text: str, y: float) -> str:
    return (f'<text class="label panel-title" x="{LEFT - 44}" y="{y + 4}" '
            f'text-anchor="end">{escape(text)}</text>')


def _y(value: float, top: float, height: float, scale: float) -> float:
    share = min(1.0, max(0.0, value / scale)) if scale > 0 else 0.0
    return round(top + height - share * height, 1)


def _open(name: str, height: float, title: str) -> str:
    return (f'<svg class="chart {name}" viewBox="0 -6 {WIDTH} {height}" role="img" '
            f'aria-label="{escape(title)}"><title>{escape(title)}</title>')
