"""The telemetry part of an HTML run page: the window's summaries (from the record) and, on one time axis, the
throughput, the GPUs' power, SM clock and utilisation (or, without a GPU, the trainer's CPU) from the series
beside the record. Inline SVG, like the run page's timeline: no plotting library per page.

Time is seconds from the window's start on the harness clock. The throughput is the record's per-interval
series (the framework's own times) laid end to end from the window's first iteration, which arrived at t0."""

from __future__ import annotations

from html import escape
from pathlib import Path

from bench.measure.telemetry import on_bench_clock
from bench.records.schema import RunRecord
from bench.numbers import sig3
from bench.telemetry.series import Series, find_series, gpu_column

WIDTH, PANEL, LEFT = 640, 90, 46
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
Line = tuple[str, list[tuple[float, float]]]  # (label, points)


def throughput_points(record: RunRecord) -> list[tuple[float, float]]:
    """(seconds from the window's start, img/s) at the end of each interval of the record's series: the
    intervals laid end to end, shifted so that the window's first iteration ends at 0."""
    clock = record.harness_clock
    window = clock.window if clock is not None and clock.window else record.framework_timing.window
    points = [(int(i), s) for i, s in record.series if s > 0]
    if not window or len(points) < 2:
        return []
    ends, elapsed, anchor = [], 0.0, None
    for (previous, _), (i, s) in zip([(points[0][0], 0.0), *points], points):
        if anchor is None and previous < window[0] <= i:
            anchor = elapsed + (window[0] - previous) * s
        elapsed += (i - previous) * s
        ends.append((elapsed, record.images_per_iter / s))
    if anchor is None:
        return []
    return [(t - anchor, rate) for t, rate in ends]


def _panel(y: int, title: str, lines: list[Line], x0: float, x1: float, window_s: float) -> str:
    values = [v for _, pts in lines for _, v in pts]
    top = 1.1 * max(values) if values and max(values) > 0 else 1.0

    def x(t: float) -> float:
        return LEFT + (t - x0) / ((x1 - x0) or 1) * (WIDTH - LEFT - 10)

    def yy(v: float) -> float:
        return y + PANEL - 14 - min(v, top) / top * (PANEL - 24)
    left, right = x(max(0.0, x0)), x(min(window_s, x1))
    shade = (f'<rect x="{left:.1f}" y="{y + 10}" width="{right - left:.1f}" height="{PANEL - 24}" '
             'fill="#1f77b4" opacity="0.10"/>')
    parts = [shade, f'<text x="2" y="{y + 8}" font-size="10">{escape(title)} (0 to {sig3(top)})</text>']
    for k, (label, pts) in enumerate(lines):
        if len(pts) < 2:
            continue
        colour = COLOURS[k % len(COLOURS)]
        path = " ".join(f"{x(t):.1f},{yy(v):.1f}" for t, v in pts if x0 <= t <= x1)
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.2" points="{path}">'
                     f'<title>{escape(label)}</title></polyline>')
    return "".join(parts)


def _column_lines(series: list[Series], times: list[list[float]], t0: float, name: str) -> list[Line]:
    lines = []
    for s, ts in zip(series, times):
        for index in s.gpu_indices:
            values = s.columns.get(gpu_column(index, name), [])
            where = f"GPU {index}" + (f" on {s.node}" if s.node else "")
            lines.append((where, [(t - t0, v) for t, v in zip(ts, values) if v is not None]))
    return lines


def telemetry_svg(record: RunRecord, series: list[Series]) -> str:
    w = record.telemetry.window
    times = [on_bench_clock(s, record.telemetry.harness_wall_offset) for s in series]
    span = [t - w.t0 for ts in times for t in ts]
    if not span:
        return "<p>The telemetry series is empty.</p>"
    x0, x1 = min(span), max(span)
    panels = [("img/s (framework times)", [("throughput", throughput_points(record))])]
    if any(s.gpu_indices for s in series):
        panels += [("power, W", _column_lines(series, times, w.t0, "power_w")),
                   ("SM clock, MHz", _column_lines(series, times, w.t0, "sm_mhz")),
                   ("GPU utilisation, %", _column_lines(series, times, w.t0, "utilization_percent"))]
    else:
        panels.append(("trainer CPU, % (100 = one core)", [
            (s.node or "host", [(t - w.t0, v) for t, v in zip(ts, s.columns.get("cpu_percent", []))
                                if v is not None]) for s, ts in zip(series, times)]))
    height = PANEL * len(panels) + 16
    body = "".join(_panel(k * PANEL, title, lines, x0, x1, w.seconds)
                   for k, (title, lines) in enumerate(panels))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" role="img" '
            f'aria-label="telemetry">{body}<text x="{LEFT}" y="{height - 3}" font-size="10">seconds from the '
            f"window's start, {x0:.1f} to {x1:.1f}; shaded: the window ({w.seconds:.1f} s)</text></svg>")


def _quantity(label: str, value: float | None, unit: str, source: str | None = None) -> str:
    """"label 12.3 unit (source)", or "" where the value was not measured."""
    if value is None:
        return ""
    return f"{label} {sig3(value)} {unit}" + (f" ({source})" if source else "")


def summary_rows(record: RunRecord) -> list[tuple[str, str]]:
    t = record.telemetry
    w = t.window
    own = (f"; its own CPU {sig3(t.sampler.own_cpu_percent)} % of one core"
           if t.sampler.own_cpu_percent is not None else "")
    rows = [("Sampler", f"{sig3(t.sampler.rate)} samples/s, {t.sampler.samples} in the window; "
                        f"{', '.join(t.sampler.sources)}; {t.sampler.bounds}{own}")]
    if t.gpu_unavailable:
        rows.append(("GPUs", f"no GPU numbers: {t.gpu_unavailable}"))
    if w.host is not None:
        rows.append(("Host", f"trainer CPU {sig3(w.host.cpu_percent_mean)} % (100 = one core), other "
                             f"processes {sig3(w.host.other_cpu_percent_mean)} %, {w.host.cpus} CPUs; "
                             f"RSS max {sig3(w.host.rss_mb_max)} MB"
                             + (f"; RAPL {sig3(w.host.rapl_energy_j)} J" if w.host.rapl_energy_j is not None
                                else "")))
    for g in w.gpus:
        rows.append((f"GPU {g.index}" + (f" on {g.node}" if g.node else "") + f" ({g.name})", "; ".join(
            part for part in (
                _quantity("energy", g.energy_j, "J", g.energy_source),
                _quantity("power mean", g.power_w_mean, "W", g.power_source),
                _quantity("p95", g.power_w_p95, "W"),
                _quantity("SM clock median", g.sm_clock_mhz_median, "MHz"),
                _quantity("min", g.sm_clock_mhz_min, "MHz"), _quantity("max", g.temperature_c_max, "°C"),
                _quantity("utilisation", g.utilization_percent_mean, "%"),
                _quantity("memory max", g.memory_used_mb_max, "MB"),
                f"reasons: {', '.join(g.throttle_reasons) or 'none'}") if part)))
    if w.energy_j is not None:
        rows.append(("Energy", f"{sig3(w.energy_j)} J on all GPUs for {w.images} images: "
                               f"{sig3(w.images_per_joule)} img/J"))
    return rows


def telemetry_html(directory: Path, record: RunRecord, table) -> list[str]:
    """The run page's telemetry section (nothing for a record without telemetry). `table`: the page's table
    renderer (bench.report.html.table_html)."""
    t = record.telemetry
    if t is None:
        return []
    if t.window is None:
        return ["<h2>Telemetry</h2>", f"<p>No window summary: {escape(t.window_missing or '')}.</p>"]
    series = find_series(directory)
    return ["<h2>Telemetry</h2>",
            table(["Over the window", "Value"], [[escape(k), escape(v)] for k, v in summary_rows(record)], 2),
            telemetry_svg(record, series) if series else "<p>The series is not beside this record.</p>"]
