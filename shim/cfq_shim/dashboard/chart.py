"""Throughput and failures per minute over the last hour, drawn as an inline SVG (server-side)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterable, Mapping

__all__ = ["Minute", "minutes_of", "svg_bars"]

MINUTES = 60


@dataclass(frozen=True)
class Minute:
    #: Epoch minute (seconds // 60).
    minute: int
    processed: int
    failed: int


def minutes_of(per_minute_maps: Iterable[Mapping[str, list[int]]], *, now: float | None = None) -> list[Minute]:
    """The last hour, one entry per minute (oldest first), summed over every worker's counts."""
    current = int((now if now is not None else time.time()) // 60)
    totals: dict[int, list[int]] = {m: [0, 0] for m in range(current - MINUTES + 1, current + 1)}
    for counts in per_minute_maps:
        for key, (processed, failed) in counts.items():
            minute = int(key)
            if minute in totals:
                totals[minute][0] += int(processed)
                totals[minute][1] += int(failed)
    return [Minute(m, p, f) for m, (p, f) in sorted(totals.items())]


def svg_bars(minutes: list[Minute], *, width: int = 720, height: int = 180) -> str:
    """An SVG with one bar per minute (processed, failures in red on top of it) and a y-axis label."""
    peak = max([m.processed for m in minutes] + [1])
    bar = width / max(len(minutes), 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height + 20}" width="{width}" '
             f'height="{height + 20}" role="img" aria-label="tasks per minute, last hour">',
             f'<line x1="0" y1="{height}" x2="{width}" y2="{height}" stroke="#999"/>',
             f'<text x="2" y="12" font-size="11" fill="#555">{peak} / min</text>']
    for index, minute in enumerate(minutes):
        x = index * bar
        done = minute.processed / peak * (height - 16)
        failed = minute.failed / peak * (height - 16)
        label = time.strftime("%H:%M", time.gmtime(minute.minute * 60))
        parts.append(f'<g><title>{label} UTC: {minute.processed} processed, {minute.failed} failed</title>'
                     f'<rect class="processed" x="{x + 1:.1f}" y="{height - done:.1f}" width="{bar - 2:.1f}" '
                     f'height="{done:.1f}" fill="#4a7bd0"/>'
                     f'<rect class="failed" x="{x + 1:.1f}" y="{height - failed:.1f}" width="{bar - 2:.1f}" '
                     f'height="{failed:.1f}" fill="#d04a4a"/></g>')
    for index in range(0, len(minutes), 10):
        label = time.strftime("%H:%M", time.gmtime(minutes[index].minute * 60))
        parts.append(f'<text x="{index * bar:.1f}" y="{height + 14}" font-size="10" fill="#555">{label}</text>')
    parts.append("</svg>")
    return "".join(parts)
