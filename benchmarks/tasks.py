"""The benchmark's tasks: one per routing shape, checked against the supervisor's keyword routing."""

from __future__ import annotations

from dataclasses import dataclass

from supervisor_service.graph import team_keyword_router


@dataclass(frozen=True)
class BenchTask:
    """A task and the teams the supervisor should send it to, in order."""

    shape: str
    text: str
    teams: tuple[str, ...]


TASKS: tuple[BenchTask, ...] = (
    BenchTask("research", "Research the vector database market and its competitors", ("research",)),
    BenchTask("content", "Write a blog article about vector search for developers", ("content",)),
    BenchTask("social", "Draft LinkedIn and X posts about our new vector search release", ("social",)),
    BenchTask(
        "research+content",
        "Research the vector database market, then write a blog article about it",
        ("research", "content"),
    ),
    BenchTask(
        "campaign",
        "Launch campaign for our open-source vector database: research competitors, write a blog article, "
        "and prepare LinkedIn and X posts",
        ("research", "content", "social"),
    ),
)
CAMPAIGN = TASKS[-1]


def check_routing_shapes() -> None:
    """Fail when the supervisor's keyword routing would not give each task its intended shape.

    The offline model routes with the same keyword router (default route: content), so this is the shape the
    benchmark measures; the runs check it again on every workflow.
    """
    router = team_keyword_router()
    for task in TASKS:
        needed = tuple(router.needed(task.text))
        if needed != task.teams:
            raise RuntimeError(
                f"task {task.shape!r} routes to {needed}, expected {task.teams}: {task.text!r}"
            )
