"""Analysis of repository metrics with pandas, and a PNG chart of them with matplotlib (Agg backend)."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import Any

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

TREND_WEEKS = 4


def weekly_commits(metrics: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Commits per week (rows, dated) per repository (columns); repositories without activity are left out."""
    series = {
        m["repository"]: pd.Series(
            [w["total"] for w in weeks], index=pd.to_datetime([w["week"] for w in weeks], unit="s", utc=True)
        )
        for m in metrics
        if (weeks := m.get("commit_activity", {}).get("weeks"))
    }
    if not series:
        return pd.DataFrame()
    return pd.DataFrame(series).fillna(0).astype(int).sort_index()


def activity_stats(metrics: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per repository: stars, forks, commits over the year, mean per week, and the last four weeks against the
    four before (``trend_pct`` is None when the earlier window had no commits or activity is unknown)."""
    weekly = weekly_commits(metrics)
    rows = []
    for m in metrics:
        row: dict[str, Any] = {
            "repository": m["repository"],
            "stars": m["stars"],
            "forks": m["forks"],
            "contributors": m["contributors"],
            "commits_52w": None,
            "mean_per_week": None,
            "last_4w": None,
            "previous_4w": None,
            "trend_pct": None,
            "activity": m.get("commit_activity", {}).get("status", "unknown"),
        }
        if m["repository"] in weekly:
            column = weekly[m["repository"]]
            last = int(column.iloc[-TREND_WEEKS:].sum())
            previous = int(column.iloc[-2 * TREND_WEEKS : -TREND_WEEKS].sum())
            row.update(
                commits_52w=int(column.sum()),
                mean_per_week=round(float(column.mean()), 1),
                last_4w=last,
                previous_4w=previous,
                trend_pct=round((last - previous) / previous * 100, 1) if previous else None,
            )
        rows.append(row)
    return rows


def markdown_table(rows: Sequence[dict[str, Any]]) -> str:
    """The statistics as a markdown table."""

    def cell(value: Any) -> str:
        if value is None:
            return "n/a"
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return str(value)

    header = "| Repository | Stars | Forks | Contributors | Commits (52 wk) | Mean / week | Last 4 wk | Prior 4 wk | Trend |"
    lines = [header, "|" + "---|" * 9]
    for r in rows:
        trend = "n/a" if r["trend_pct"] is None else f"{r['trend_pct']:+.1f}%"
        cells = [
            r["repository"],
            r["stars"],
            r["forks"],
            r["contributors"],
            r["commits_52w"],
            r["mean_per_week"],
        ]
        cells += [r["last_4w"], r["previous_4w"]]
        lines.append("| " + " | ".join(cell(c) for c in cells) + f" | {trend} |")
    return "\n".join(lines)


def render_png(metrics: Sequence[dict[str, Any]]) -> bytes:
    """A PNG: commits per week per repository (left) and stars and forks (right).

    Uses the object-oriented API on an Agg canvas (no pyplot global state), so it may run in a worker thread.
    """
    weekly = weekly_commits(metrics)
    figure = Figure(figsize=(12, 4.5), dpi=100)
    FigureCanvasAgg(figure)
    left, right = figure.subplots(1, 2)
    if weekly.empty:
        left.text(0.5, 0.5, "commit activity not available", ha="center", va="center")
    else:
        for repository in weekly.columns:
            left.plot(weekly.index, weekly[repository], label=repository, linewidth=1.5)
        left.legend(fontsize=8)
        left.tick_params(axis="x", labelrotation=30, labelsize=8)
    left.set_title("Commits per week (last 52 weeks)")
    names = [m["repository"] for m in metrics]
    positions = range(len(names))
    width = 0.4
    right.bar([p - width / 2 for p in positions], [m["stars"] for m in metrics], width, label="stars")
    right.bar([p + width / 2 for p in positions], [m["forks"] for m in metrics], width, label="forks")
    right.set_xticks(list(positions), names, rotation=20, fontsize=8)
    right.set_title("Stars and forks")
    right.legend(fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def repository_chart(metrics: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Statistics, a markdown table and the PNG chart (base64 under ``png_b64``, hidden from the model)."""
    rows = activity_stats(metrics)
    return {
        "repositories": [m["repository"] for m in metrics],
        "stats": rows,
        "table_markdown": markdown_table(rows),
        "png_b64": base64.b64encode(render_png(metrics)).decode("ascii"),
    }
