"""Feedback as data: review outcomes per team, agent and model, as Prometheus metrics and as a summary
(``ReviewService/GetReviewSummary``) computed from the stored reviews.

- ``marketing_review_items_total{team,agent,model,outcome}``: items decided (approved, edited, changes_requested,
  rejected, expired); the approval rate is approved / all.
- ``marketing_review_edit_distance{team,agent,model}``: Levenshtein distance between draft and approved text.
- ``marketing_review_decision_seconds{team}``: time from the review's creation to its decision.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC

from marketing.supervisor.v1 import review_pb2
from prometheus_client import Counter, Histogram

REVIEW_ITEMS = Counter(
    "marketing_review_items_total",
    "Review items decided, by team, drafting agent, model and outcome.",
    ["team", "agent", "model", "outcome"],
)
REVIEW_EDIT_DISTANCE = Histogram(
    "marketing_review_edit_distance",
    "Levenshtein distance between a draft and its approved text.",
    ["team", "agent", "model"],
    buckets=(0, 1, 5, 10, 25, 50, 100, 250, 500, 1000),
)
REVIEW_DECISION_SECONDS = Histogram(
    "marketing_review_decision_seconds",
    "Time from a review's creation to its decision.",
    ["team"],
    buckets=(60, 300, 900, 3600, 4 * 3600, 12 * 3600, 86400, 3 * 86400, 7 * 86400),
)
MAX_DISTANCE_CELLS = 4_000_000  # longer pairs are measured on their differing middle only
MAX_REASONS = 10

_OUTCOMES = {
    review_pb2.REVIEW_STATUS_APPROVED: "approved",
    review_pb2.REVIEW_STATUS_CHANGES_REQUESTED: "changes_requested",
    review_pb2.REVIEW_STATUS_REJECTED: "rejected",
    review_pb2.REVIEW_STATUS_EXPIRED: "expired",
}


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions of code points)."""
    start = 0
    while start < min(len(a), len(b)) and a[start] == b[start]:
        start += 1
    end = 0
    while end < min(len(a), len(b)) - start and a[-1 - end] == b[-1 - end]:
        end += 1
    a, b = a[start : len(a) - end], b[start : len(b) - end]
    if len(a) * len(b) > MAX_DISTANCE_CELLS:
        return max(len(a), len(b))  # an upper bound; such edits are rewrites
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def _outcome(review: review_pb2.Review, view: review_pb2.ReviewItemView) -> str:
    outcome = _OUTCOMES.get(review.status, "pending")
    if outcome == "approved" and view.approved_text != view.item.text:
        return "edited"
    return outcome


def record_decision(review: review_pb2.Review) -> None:
    """Count a decided review in the metrics."""
    for view in review.items:
        labels = (review.team, view.item.agent, view.item.model or "unknown")
        REVIEW_ITEMS.labels(*labels, _outcome(review, view)).inc()
        if view.approved_text:
            REVIEW_EDIT_DISTANCE.labels(*labels).observe(edit_distance(view.item.text, view.approved_text))
    if review.HasField("decide_time"):
        seconds = (review.decide_time.ToDatetime(UTC) - review.create_time.ToDatetime(UTC)).total_seconds()
        REVIEW_DECISION_SECONDS.labels(review.team).observe(max(0.0, seconds))


def summarize(reviews: Iterable[review_pb2.Review]) -> list[review_pb2.ReviewFigures]:
    """Figures per (team, agent, model) over decided reviews (newest first)."""
    groups: dict[tuple[str, str, str], review_pb2.ReviewFigures] = {}
    distances: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    waits: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for review in reviews:
        for view in review.items:
            key = (review.team, view.item.agent, view.item.model or "unknown")
            figures = groups.setdefault(
                key, review_pb2.ReviewFigures(team=key[0], agent=key[1], model=key[2])
            )
            figures.decided_items += 1
            outcome = _outcome(review, view)
            if outcome in ("approved", "edited"):
                figures.approved_items += 1
                distances[key].append(edit_distance(view.item.text, view.approved_text))
                figures.edited_items += outcome == "edited"
            elif review.comments and len(figures.rejection_reasons) < MAX_REASONS:
                figures.rejection_reasons.append(review.comments)
            if review.HasField("decide_time"):
                wait = review.decide_time.ToDatetime(UTC) - review.create_time.ToDatetime(UTC)
                waits[key].append(wait.total_seconds())
    for key, figures in groups.items():
        figures.approval_rate = figures.approved_items / figures.decided_items
        figures.mean_edit_distance = sum(distances[key]) / len(distances[key]) if distances[key] else 0.0
        figures.mean_seconds_to_decision = sum(waits[key]) / len(waits[key]) if waits[key] else 0.0
    return sorted(groups.values(), key=lambda f: (f.team, f.agent, f.model))
