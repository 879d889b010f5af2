"""Repository statistics with pandas and the PNG chart."""

from __future__ import annotations

import base64
import io
from typing import Any

from PIL import Image

from research_service.charts import activity_stats, markdown_table, repository_chart

WEEK = 7 * 86400


def metrics(name: str, weekly: list[int] | None, stars: int = 10, forks: int = 2) -> dict[str, Any]:
    weeks = [{"week": 1_700_000_000 + n * WEEK, "total": t} for n, t in enumerate(weekly or [])]
    status = "ok" if weekly is not None else "not yet computed"
    return {"repository": name, "stars": stars, "forks": forks, "contributors": 3,
            "commit_activity": {"status": status, "weeks": weeks}}  # fmt: skip


def test_stats_total_mean_and_four_week_trend() -> None:
    weekly = [1] * 44 + [2, 2, 2, 2] + [3, 3, 3, 3]  # previous 4 weeks: 8, last 4 weeks: 12
    rows = activity_stats([metrics("a/b", weekly), metrics("c/d", None)])
    first, second = rows
    assert first["commits_52w"] == 44 + 8 + 12
    assert first["mean_per_week"] == round(64 / 52, 1)
    assert (first["last_4w"], first["previous_4w"], first["trend_pct"]) == (12, 8, 50.0)
    assert second["commits_52w"] is None and second["activity"] == "not yet computed"
    table = markdown_table(rows)
    assert "| a/b | 10 | 2 | 3 | 64 | 1.2 | 12 | 8 | +50.0% |" in table
    assert "| c/d | 10 | 2 | 3 | n/a | n/a | n/a | n/a | n/a |" in table


def test_no_trend_when_the_earlier_window_is_empty() -> None:
    (row,) = activity_stats([metrics("a/b", [0] * 48 + [1, 1, 1, 1])])
    assert row["trend_pct"] is None and row["last_4w"] == 4


def test_chart_is_a_decodable_png() -> None:
    result = repository_chart([metrics("a/b", list(range(52)), 500, 40), metrics("c/d", [5] * 52, 90, 9)])
    png = base64.b64decode(result["png_b64"])
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(png))
    image.verify()
    assert Image.open(io.BytesIO(png)).size == (1200, 450)
    assert result["repositories"] == ["a/b", "c/d"]
    assert result["table_markdown"].startswith("| Repository |")


def test_chart_without_any_activity_still_renders() -> None:
    png = base64.b64decode(repository_chart([metrics("a/b", None)])["png_b64"])
    assert Image.open(io.BytesIO(png)).format == "PNG"
