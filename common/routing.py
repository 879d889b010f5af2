"""Routing shared by the supervisor and the team leads: the model decides, keyword routing is the fallback.

The router's prompt is built from a ``RoutingContext``: the task, a compact summary of each finished step and the
options still open, never the full text of earlier work, so the router's context stays bounded as a task grows.
"""

from __future__ import annotations

import functools
import html
import json
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel, Field, ValidationError, create_model

from common.errors import BudgetExceededError, ModelOutputError
from common.llm.offline import OfflineReply
from common.logging import get_logger
from common.telemetry import tracer
from common.text import clip, tokenize

log = get_logger(__name__)

FINISH = "FINISH"
MAX_REASONING_CHARS = 1000
MAX_SUMMARY_CHARS = 400


class DecisionSource(StrEnum):
    """Who made a routing decision."""

    MODEL = "model"
    KEYWORD_FALLBACK = "keyword_fallback"
    STEP_LIMIT = "step_limit"
    LOOP_GUARD = "loop_guard"


@dataclass(frozen=True)
class RouteOption:
    """Something a router can send work to.

    Attributes:
        name: The option's name (a team or a worker).
        description: What it does; shown to the model.
        keywords: Task words that make keyword routing pick it; empty means it is always needed. ``word*``
            matches any word starting with ``word``; a plain word matches itself or its plural; a keyword with a
            space matches that phrase.
    """

    name: str
    description: str
    keywords: tuple[str, ...] = ()


@dataclass(frozen=True)
class RouteDecision:
    """The router's choice: an option's name or ``FINISH``."""

    next: str
    reasoning: str
    source: DecisionSource


@dataclass(frozen=True)
class CompletedStep:
    """A compact record of a finished step, as the router sees it."""

    name: str
    outcome: str


@dataclass(frozen=True)
class RoutingContext:
    """Everything a router needs for one decision, and nothing more."""

    task: str
    completed: tuple[CompletedStep, ...]
    options: tuple[RouteOption, ...]

    def render(self) -> str:
        """The router's user message. Data sits inside tags and is escaped, so a task cannot fake a section."""
        done = "\n".join(f"- {s.name}: {_esc(clip(s.outcome, MAX_SUMMARY_CHARS))}" for s in self.completed)
        options = "\n".join(f"- {o.name}: {_esc(o.description)}" for o in self.options)
        return (
            f"<task>\n{_esc(self.task)}\n</task>\n"
            f"<completed_steps>\n{done or '(none yet)'}\n</completed_steps>\n"
            f"<options>\n{options}\n- {FINISH}: the task needs nothing more\n</options>"
        )

    @classmethod
    def parse(cls, text: str) -> RoutingContext | None:
        """Inverse of ``render`` (used by the offline model); None when the text is not a routing prompt."""
        task = _section(text, "task")
        completed = _section(text, "completed_steps")
        options = _section(text, "options")
        if task is None or completed is None or options is None:
            return None
        steps = tuple(CompletedStep(name, outcome) for name, outcome in _bullets(completed))
        opts = tuple(
            RouteOption(name, description) for name, description in _bullets(options) if name != FINISH
        )
        return cls(task=task, completed=steps, options=opts)


def _esc(text: str) -> str:
    return html.escape(text, quote=False)


def _section(text: str, tag: str) -> str | None:
    match = re.search(rf"<{tag}>\n(.*?)\n</{tag}>", text, re.DOTALL)
    return html.unescape(match.group(1)) if match else None


def _bullets(block: str) -> list[tuple[str, str]]:
    pairs = []
    for line in block.splitlines():
        if line.startswith("- ") and ":" in line:
            name, _, rest = line[2:].partition(":")
            pairs.append((name.strip(), rest.strip()))
    return pairs


class KeywordRouter:
    """Deterministic routing by keywords: options are taken in declaration order, each at most once."""

    def __init__(self, options: Sequence[RouteOption], default: Sequence[str] = ()) -> None:
        """
        Args:
            options: Options in the order work should flow.
            default: Options to use when no keyword matches; empty means the options without keywords only.
        """
        self.options = tuple(options)
        self.default = tuple(default)

    def matches(self, task: str) -> dict[str, list[str]]:
        """For each option, the keywords found in the task (options without keywords always match)."""
        tokens = tokenize(task)
        text = " ".join(tokens)
        found: dict[str, list[str]] = {}
        for option in self.options:
            if not option.keywords:
                found[option.name] = []
                continue
            hits = [k.rstrip("*") for k in option.keywords if _keyword_in(k, tokens, text)]
            if hits:
                found[option.name] = hits
        return found

    def needed(self, task: str) -> list[str]:
        """Options the task needs, in flow order."""
        found = self.matches(task)
        if not any(found[name] for name in found) and self.default:
            names = set(self.default) | set(found)
            return [o.name for o in self.options if o.name in names]
        return [o.name for o in self.options if o.name in found]

    def route(self, task: str, done: Collection[str], available: Collection[str]) -> RouteDecision:
        """The first needed option that is still available and not done, else ``FINISH``."""
        found = self.matches(task)
        for name in self.needed(task):
            if name in done or name not in available:
                continue
            hits = found.get(name) or []
            why = f"keywords {', '.join(repr(h) for h in hits)}" if hits else "always part of this flow"
            if name not in found:
                why = "no keyword matched, so the default route applies"
            return RouteDecision(name, f"{name}: {why}", DecisionSource.KEYWORD_FALLBACK)
        return RouteDecision(FINISH, "every option the task needs is done", DecisionSource.KEYWORD_FALLBACK)


def _keyword_in(keyword: str, tokens: list[str], text: str) -> bool:
    if " " in keyword:
        return re.search(rf"(?<![\w-]){re.escape(keyword)}(?![\w-])", text) is not None
    if keyword.endswith("*"):
        stem = keyword[:-1]
        return any(token.startswith(stem) for token in tokens)
    return any(token in (keyword, f"{keyword}s", f"{keyword}es") for token in tokens)


def route_schema(options: Sequence[str]) -> type[BaseModel]:
    """A structured-output schema whose ``next`` field admits exactly the given options (built once per set)."""
    return _route_schema(tuple(options))


@functools.lru_cache(maxsize=256)
def _route_schema(options: tuple[str, ...]) -> type[BaseModel]:
    choice = Literal[options]  # type: ignore[valid-type]
    return create_model(
        "RouteDecision",
        __doc__="Choose who acts next, or FINISH when the task needs nothing more.",
        next=(choice, Field(description="The option that should act next, or FINISH.")),
        reasoning=(str, Field(description="One or two sentences on why.")),
    )


MAX_STRUCTURED_BINDINGS = 256
"""(model, option set) bindings a router keeps."""


class Router:
    """Asks the chat model for a structured decision; falls back to keyword routing when the answer is unusable."""

    def __init__(
        self,
        model: BaseChatModel,
        keyword_router: KeywordRouter,
        system_prompt: str,
        models: Callable[[str], Any] | None = None,
    ) -> None:
        """
        Args:
            model: The deployment's routing model.
            keyword_router: The fallback (and the offline model's behaviour).
            system_prompt: The router's instructions.
            models: The routing model of a given name (``common.agents.worker.ChatModels.get``), for tenants that
                chose their own (``TenantProfile.models.router_model``); None: always ``model``.
        """
        self.model = model
        self.keyword_router = keyword_router
        self.system_prompt = system_prompt
        self.models = models
        self._structured: dict[tuple[str, tuple[str, ...]], Any] = {}

    def _structured_model(self, allowed: list[str], model_name: str = "") -> Any:
        """The model (the named one, else the default) bound to the routing schema of these options (bound once
        per model and option set)."""
        name = model_name if self.models is not None else ""
        key = (name, tuple(allowed))
        if key not in self._structured:
            model = self.models(name) if self.models is not None and name else self.model
            if len(self._structured) >= MAX_STRUCTURED_BINDINGS:
                self._structured.pop(next(iter(self._structured)))
            self._structured[key] = model.with_structured_output(route_schema(allowed))
        return self._structured[key]

    async def decide(
        self, context: RoutingContext, router: str = "router", model_name: str = ""
    ) -> RouteDecision:
        """One routing decision, in a span named after the router.

        The model's answer is rejected (and keyword routing used) when it fails, is malformed, names an
        option that is not open, or finishes before any step ran.

        Args:
            context: What the router sees.
            router: The router's name, for the span.
            model_name: The tenant's routing model ("": the deployment's).
        """
        options = [o.name for o in context.options]
        with tracer().start_as_current_span(
            f"route {router}", attributes={"marketing.router": router}
        ) as span:
            decision = await self._decide(context, model_name)
            span.set_attributes(
                {
                    "marketing.route.options": options,
                    "marketing.route.next": decision.next,
                    "marketing.route.reasoning": clip(decision.reasoning, 300),
                    "marketing.route.source": decision.source.value,
                }
            )
            return decision

    async def _decide(self, context: RoutingContext, model_name: str = "") -> RouteDecision:
        allowed = [o.name for o in context.options] + [FINISH]
        try:
            structured = self._structured_model(allowed, model_name)
            answer: Any = await structured.ainvoke(
                [SystemMessage(self.system_prompt), HumanMessage(context.render())]
            )
            if answer is None or getattr(answer, "next", None) not in allowed:
                error = ModelOutputError(f"answer {answer!r} is not one of {allowed}")
                error.option = str(getattr(answer, "next", "") or "")  # type: ignore[attr-defined]
                raise error
            if answer.next == FINISH and not context.completed and context.options:
                raise ModelOutputError("the model finished before any step ran")
            reasoning = (
                clip(str(answer.reasoning or "").strip(), MAX_REASONING_CHARS) or "(no reasoning given)"
            )
            return RouteDecision(answer.next, reasoning, DecisionSource.MODEL)
        except BudgetExceededError:
            raise  # the budget stops the run; keyword routing must not carry on past it
        except Exception as exc:
            if (repeated := repeated_option(exc, context)) is not None:
                log.warning("router_loop_stopped", option=repeated)
                return RouteDecision(
                    FINISH,
                    f"loop guard: the model chose {repeated!r} again, which already ran, with no new artifacts "
                    "since; stopped early instead of routing in a loop",
                    DecisionSource.LOOP_GUARD,
                )
            fallback = self.keyword_router.route(
                context.task, {s.name for s in context.completed}, {o.name for o in context.options}
            )
            log.warning(
                "router_fallback", error=f"{type(exc).__name__}: {clip(str(exc), 300)}", next=fallback.next
            )
            return RouteDecision(
                fallback.next,
                f"{fallback.reasoning} (keyword fallback: model answer unusable, {type(exc).__name__})",
                DecisionSource.KEYWORD_FALLBACK,
            )


def answered_option(exc: BaseException) -> str | None:
    """The ``next`` a rejected routing answer named, when it can be read from the error (the raw JSON of an
    output-parser error, the input of a pydantic validation error, or our own ``ModelOutputError``)."""
    for error in (exc, exc.__cause__, exc.__context__):
        if error is None:
            continue
        raw = getattr(error, "llm_output", None)
        if isinstance(raw, str):
            try:
                value = json.loads(raw)
            except ValueError:
                value = None
            if isinstance(value, dict) and isinstance(value.get("next"), str):
                return str(value["next"])
        if isinstance(error, ValidationError):
            for problem in error.errors():
                if tuple(problem.get("loc", ()))[:1] == ("next",) and isinstance(problem.get("input"), str):
                    return str(problem["input"])
        if isinstance(error, ModelOutputError) and (name := getattr(error, "option", None)):
            return str(name)
    return None


def repeated_option(exc: BaseException, context: RoutingContext) -> str | None:
    """The already-finished option a rejected answer chose again (a routing loop: it ran, nothing new came of it
    since, and it cannot run again), else None."""
    name = answered_option(exc)
    done = {s.name for s in context.completed}
    return name if name is not None and name in done else None


class KeywordRoutingBehaviour:
    """The offline model's behaviour for routers: read the routing prompt, answer with keyword routing."""

    def __init__(self, keyword_router: KeywordRouter) -> None:
        self.keyword_router = keyword_router

    def respond(self, messages: Sequence[Any], tools: Sequence[dict[str, Any]]) -> OfflineReply:
        if not tools:
            return OfflineReply(content="The offline model routes only through structured output.")
        tool = tools[0]["function"]
        allowed = tool["parameters"]["properties"]["next"].get("enum") or [FINISH]
        context = next(
            (c for m in reversed(messages) if (c := RoutingContext.parse(str(m.content))) is not None), None
        )
        if context is None:
            return OfflineReply(
                tool_calls=[(tool["name"], {"next": FINISH, "reasoning": "no routing context"})]
            )
        decision = self.keyword_router.route(
            context.task, {s.name for s in context.completed}, [a for a in allowed if a != FINISH]
        )
        reasoning = f"offline model, keyword routing: {decision.reasoning}"
        return OfflineReply(tool_calls=[(tool["name"], {"next": decision.next, "reasoning": reasoning})])
