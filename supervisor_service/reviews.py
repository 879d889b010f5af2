"""The review desk: opens a review when a team pauses a workflow for approval, and turns reviewers' decisions into
the ``Command(resume=...)`` that drives the workflow (and through it the team) on.

- **Opening** (``open``, called by the runner when the graph stopped at an interrupt): the items are checked against
  the tenant's brand rules (``common.brand_rules``) and, when configured, the moderation model; the findings go on
  the items, the review is stored (its id derives from the pause, so opening it again is harmless), audited, and
  announced through the :class:`ReviewNotifier`.
- **Deciding**: an approval needs ``required_approvals`` distinct reviewers (not the task's submitter unless the
  tenant allows it), edits are checked again (platform limit, brand rules), and a flagged item needs
  ``override_flags`` (audited with the findings). The decision that completes a review records the SHA-256 digest of
  every approved text, wins a compare-and-set on the row, is audited, and resumes the workflow on this replica; a
  replica that restarts finds the decision in the row when the graph stops at the same interrupt again.
- **Expiry**: a pending review past its first post's publishing time expires; the workflow resumes with a
  rejection, so the team withdraws its posts (the social publisher also cancels held posts that reach their time).
"""

from __future__ import annotations

import asyncio
import base64
import builtins
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from marketing.supervisor.v1 import review_pb2, supervisor_pb2
from marketing.team.v1 import team_pb2
from marketing.tenant.v1 import tenant_pb2

from common.agents.review_gate import digest
from common.auth.principal import AuthMethod, Principal
from common.brand_rules import RuleFinding, Severity, check_text
from common.config import Settings
from common.errors import FailedPrecondition, FieldViolation, NotFound, PermissionDenied
from common.logging import get_logger
from common.moderation import Moderator
from common.validation import raise_if_invalid
from supervisor_service.review_metrics import record_decision
from supervisor_service.review_store import ReviewStore, StoredReview, review_id_of

log = get_logger(__name__)

PENDING = review_pb2.REVIEW_STATUS_PENDING


class ReviewNotifier(Protocol):
    """Announces a pending review (issue 18 wires its signed, retried webhooks here)."""

    async def review_pending(self, tenant_id: str, review_id: str, summary: Mapping[str, Any]) -> None:
        """Called once when a review is created, with a summary (workflow id, team, round, item count, flagged
        count, expiry time); must not raise (the review exists whatever the notification does)."""


class NoNotifier:
    """The default notifier: announces nothing."""

    async def review_pending(self, tenant_id: str, review_id: str, summary: Mapping[str, Any]) -> None:
        return None


AuditLog = Callable[[str, str, str, str, Mapping[str, Any]], Awaitable[None]]
"""``record_event(tenant, actor, action, resource, details)`` of the tenant store."""

ProfileSource = Callable[[str], Awaitable[tenant_pb2.TenantProfile]]

Resumer = Callable[[str, str, dict[str, Any]], Awaitable[None]]
"""Drives a workflow on from its review (tenant, workflow id, the resume value)."""


@dataclass(frozen=True)
class OpenedReview:
    """What the runner needs of a review it opened: its id, and the resume value when it is already decided."""

    review_id: str
    team: str
    items: int
    resume: dict[str, Any] | None

    def event(self) -> supervisor_pb2.ReviewRequired:
        """The ``review_required`` event streaming callers get."""
        return supervisor_pb2.ReviewRequired(review_id=self.review_id, team=self.team, items=self.items)


def resume_value(decision: team_pb2.ReviewDecision) -> dict[str, Any]:
    """The value ``Command(resume=...)`` carries to the supervisor's team node (plain data for the checkpoint)."""
    return {"decision": base64.b64encode(decision.SerializeToString(deterministic=True)).decode()}


def _finding(finding: RuleFinding) -> review_pb2.Finding:
    severity = (
        review_pb2.FINDING_SEVERITY_FLAGGED
        if finding.severity == Severity.FLAGGED
        else review_pb2.FINDING_SEVERITY_WARNING
    )
    return review_pb2.Finding(rule=finding.rule, message=finding.message, severity=severity)


def _flagged(findings: Sequence[review_pb2.Finding]) -> bool:
    return any(f.severity == review_pb2.FINDING_SEVERITY_FLAGGED for f in findings)


class ReviewDesk:
    """Opens, decides and expires reviews for one supervisor replica."""

    def __init__(
        self,
        store: ReviewStore,
        settings: Settings,
        profile_of: ProfileSource,
        audit: AuditLog,
        notifier: ReviewNotifier | None = None,
        moderator: Moderator | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.profile_of = profile_of
        self.audit = audit
        self.notifier: ReviewNotifier = notifier or NoNotifier()
        self.moderator = moderator
        self.resume: Resumer | None = None  # the runner's, set once both exist
        self._sweeper: asyncio.Task[None] | None = None

    # --- opening ---------------------------------------------------------------------------------------------

    async def open(self, tenant_id: str, workflow_id: str, pending: Mapping[str, Any]) -> OpenedReview:
        """Record the review of a paused workflow (``pending``: the supervisor's interrupt value), or find it."""
        request = team_pb2.ReviewRequest.FromString(base64.b64decode(pending["request"]))
        review_id = review_id_of(tenant_id, workflow_id, pending["team"], request.round)
        stored = await self.store.get(tenant_id, review_id)
        if stored is None:
            review = await self._new_review(tenant_id, workflow_id, review_id, pending["team"], request)
            if await self.store.insert(tenant_id, review):
                await self._announce(tenant_id, review)
            stored = await self.store.get(tenant_id, review_id)
            assert stored is not None
        resume = None
        if stored.decision:
            resume = resume_value(team_pb2.ReviewDecision.FromString(stored.decision))
        return OpenedReview(review_id, stored.review.team, len(stored.review.items), resume)

    async def _new_review(
        self, tenant_id: str, workflow_id: str, review_id: str, team: str, request: team_pb2.ReviewRequest
    ) -> review_pb2.Review:
        profile = await self.profile_of(tenant_id)
        settings = profile.review
        review = review_pb2.Review(
            id=review_id,
            workflow_id=workflow_id,
            team=team,
            round=request.round,
            status=PENDING,
            submitted_by=await self.store.submitter(tenant_id, workflow_id),
            required_approvals=max(1, settings.required_approvals),
        )
        review.create_time.FromDatetime(datetime.now(UTC))
        moderation = await self._moderate([item.text for item in request.items])
        for index, item in enumerate(request.items):
            findings = [_finding(f) for f in check_text(item.text, profile.brand, item.max_length)]
            findings += [_finding(f) for f in moderation[index]]
            review.items.add(item=item, findings=findings, flagged=_flagged(findings))
        times = [i.scheduled_time.ToDatetime(UTC) for i in request.items if i.HasField("scheduled_time")]
        if times:
            review.expire_time.FromDatetime(min(times))
        return review

    async def _moderate_edits(self, review: review_pb2.Review, edits: Mapping[str, str]) -> None:
        """Check edited texts with the moderation model too (an edit must not launder a flagged text)."""
        views = [v for v in review.items if v.item.artifact_id in edits]
        for view, findings in zip(
            views, await self._moderate([edits[v.item.artifact_id] for v in views]), strict=True
        ):
            view.findings.extend(_finding(f) for f in findings)
            view.flagged = _flagged(view.findings)

    async def _moderate(self, texts: list[str]) -> list[list[RuleFinding]]:
        if self.moderator is None:
            return [[] for _ in texts]
        return await self.moderator.check(texts)

    async def _announce(self, tenant_id: str, review: review_pb2.Review) -> None:
        summary = {
            "workflow_id": review.workflow_id,
            "team": review.team,
            "round": review.round,
            "items": len(review.items),
            "flagged_items": sum(1 for i in review.items if i.flagged),
            "expire_time": review.expire_time.ToJsonString() if review.HasField("expire_time") else "",
        }
        await self.audit(tenant_id, "system", "review.open", f"reviews/{review.id}", summary)
        log.info("review_opened", review_id=review.id, **summary)
        try:
            await self.notifier.review_pending(tenant_id, review.id, summary)
        except Exception:  # a notification must never lose the review
            log.exception("review_notification_failed", review_id=review.id)

    # --- reading ---------------------------------------------------------------------------------------------

    async def get(self, tenant_id: str, review_id: str) -> review_pb2.Review:
        """One of the tenant's reviews (expired first when its time has passed).

        Raises:
            NotFound: No review of this tenant has that id.
        """
        stored = await self._stored(tenant_id, review_id)
        if stored.review.status == PENDING and _overdue(stored.review):
            return await self._expire(tenant_id, stored)
        return stored.review

    async def list(
        self, tenant_id: str, status: int, max_age_s: float, page_size: int, page_token: str
    ) -> tuple[builtins.list[review_pb2.Review], str]:
        """A page of the tenant's reviews, newest first; with ``max_age_s``, only those created since."""
        name = review_pb2.ReviewStatus.Name(status).removeprefix("REVIEW_STATUS_").lower() if status else ""
        page, token = await self.store.list(tenant_id, name, page_size, page_token)
        reviews = [s.review for s in page]
        if max_age_s:
            since = datetime.now(UTC).timestamp() - max_age_s
            young = [r for r in reviews if r.create_time.ToDatetime(UTC).timestamp() >= since]
            token = token if len(young) == len(reviews) else ""  # newest first: the rest are older still
            reviews = young
        return reviews, token

    async def _stored(self, tenant_id: str, review_id: str) -> StoredReview:
        stored = await self.store.get(tenant_id, review_id)
        if stored is None:
            raise NotFound(f"review {review_id} not found")
        return stored

    # --- deciding --------------------------------------------------------------------------------------------

    async def approve(
        self, caller: Principal, review_id: str, edits: Mapping[str, str], override_flags: bool
    ) -> review_pb2.Review:
        """Approve a review as ``caller`` (see the module's rules).

        Raises:
            NotFound: No review of the caller's tenant has that id.
            InvalidArgument: An edit names no item of the review, is empty or breaks the platform's limit.
            PermissionDenied: The caller submitted the task and the tenant does not allow self-approval.
            FailedPrecondition: The review is decided or expired, the caller approved it already, a flagged item
                has no override, or another decision won the race.
        """
        tenant_id = caller.tenant_id
        stored = await self._pending(tenant_id, review_id)
        review = review_pb2.Review()
        review.CopyFrom(stored.review)
        profile = await self.profile_of(tenant_id)
        _check_self_approval(caller, review, profile.review.allow_self_approval)
        if any(a.reviewer == caller.actor for a in review.approvals) and not edits:
            raise FailedPrecondition(f"{caller.actor} approved review {review_id} already")
        _apply_edits(review, edits, profile.brand)
        await self._moderate_edits(review, edits)
        flagged = [view.item.artifact_id for view in review.items if view.flagged]
        if flagged and not override_flags:
            raise FailedPrecondition(
                f"items {', '.join(flagged)} are flagged by the brand rules or moderation: fix them with an edit, "
                "or approve with override_flags (audited)"
            )
        if edits:  # the others approved other texts
            del review.approvals[:]
        approval = review.approvals.add(reviewer=caller.actor, override_flags=override_flags)
        approval.approve_time.FromDatetime(datetime.now(UTC))
        if len({a.reviewer for a in review.approvals}) < review.required_approvals:
            await self._save(tenant_id, stored, review, b"")
            await self._audit_approval(tenant_id, caller, review, flagged, override_flags)
            return review
        return await self._complete_approval(caller, stored, review, flagged, override_flags)

    async def _complete_approval(
        self,
        caller: Principal,
        stored: StoredReview,
        review: review_pb2.Review,
        flagged: builtins.list[str],
        override_flags: bool,
    ) -> review_pb2.Review:
        decision = team_pb2.ReviewDecision(
            round=review.round,
            verdict=team_pb2.REVIEW_VERDICT_APPROVED,
            reviewer=caller.actor,
            review_id=review.id,
        )
        for view in review.items:
            text = view.approved_text or view.item.text
            view.approved_text, view.approved_digest = text, digest(text)
            decision.approved_texts[view.item.artifact_id] = text
            decision.approved_digests[view.item.artifact_id] = view.approved_digest
        self._decided(review, review_pb2.REVIEW_STATUS_APPROVED, caller.actor)
        await self._save(caller.tenant_id, stored, review, decision.SerializeToString(deterministic=True))
        await self._audit_approval(caller.tenant_id, caller, review, flagged, override_flags)
        record_decision(review)
        await self._resume(caller.tenant_id, review, decision)
        return review

    async def send_back(
        self,
        caller: Principal,
        review_id: str,
        comments: str,
        item_comments: Sequence[team_pb2.ItemComment],
        final: bool,
    ) -> review_pb2.Review:
        """Request changes (the team revises with the comments and asks again) or, when ``final`` or after the
        last allowed round, reject for good (nothing is published).

        Raises:
            NotFound, InvalidArgument, FailedPrecondition: As for :meth:`approve`.
        """
        tenant_id = caller.tenant_id
        stored = await self._pending(tenant_id, review_id)
        review = review_pb2.Review()
        review.CopyFrom(stored.review)
        known = {v.item.artifact_id for v in review.items}
        raise_if_invalid(
            [
                FieldViolation(f"item_comments[{i}].artifact_id", "names no item of the review")
                for i, c in enumerate(item_comments)
                if c.artifact_id not in known
            ]
        )
        final = final or review.round >= self.settings.review_max_rounds
        verdict = team_pb2.REVIEW_VERDICT_REJECTED if final else team_pb2.REVIEW_VERDICT_CHANGES_REQUESTED
        status = review_pb2.REVIEW_STATUS_REJECTED if final else review_pb2.REVIEW_STATUS_CHANGES_REQUESTED
        decision = team_pb2.ReviewDecision(
            round=review.round, verdict=verdict, comments=comments, item_comments=item_comments,
            reviewer=caller.actor, review_id=review.id,
        )  # fmt: skip
        review.comments = "\n".join(
            [comments, *(f"{c.artifact_id}: {c.comment}" for c in item_comments)]
        ).strip()
        self._decided(review, status, caller.actor)
        await self._save(tenant_id, stored, review, decision.SerializeToString(deterministic=True))
        action = "review.reject" if final else "review.request_changes"
        await self.audit(
            tenant_id, caller.actor, action, f"reviews/{review.id}", {"comments": review.comments}
        )
        record_decision(review)
        await self._resume(tenant_id, review, decision)
        return review

    async def _pending(self, tenant_id: str, review_id: str) -> StoredReview:
        stored = await self._stored(tenant_id, review_id)
        if stored.review.status == PENDING and _overdue(stored.review):
            await self._expire(tenant_id, stored)
            raise FailedPrecondition(f"review {review_id} expired at its first post's publishing time")
        if stored.review.status != PENDING:
            status = review_pb2.ReviewStatus.Name(stored.review.status)
            raise FailedPrecondition(f"review {review_id} is decided already ({status})")
        return stored

    def _decided(self, review: review_pb2.Review, status: int, actor: str) -> None:
        review.status = status  # type: ignore[assignment]
        review.decided_by = actor
        review.decide_time.FromDatetime(datetime.now(UTC))

    async def _save(
        self, tenant_id: str, stored: StoredReview, review: review_pb2.Review, decision: bytes
    ) -> None:
        if not await self.store.save(tenant_id, stored, review, decision):
            raise FailedPrecondition(f"review {review.id} changed meanwhile: read it again")

    async def _audit_approval(
        self,
        tenant_id: str,
        caller: Principal,
        review: review_pb2.Review,
        flagged: builtins.list[str],
        override: bool,
    ) -> None:
        details: dict[str, Any] = {
            "status": review_pb2.ReviewStatus.Name(review.status),
            "approvals": f"{len({a.reviewer for a in review.approvals})}/{review.required_approvals}",
            "digests": {v.item.artifact_id: v.approved_digest for v in review.items if v.approved_digest},
        }
        if override:
            details["override_flags"] = "true"
            details["flagged"] = {
                v.item.artifact_id: [f.message for f in v.findings] for v in review.items if v.flagged
            }
        action = "review.approve_override" if override and flagged else "review.approve"
        await self.audit(tenant_id, caller.actor, action, f"reviews/{review.id}", details)

    async def _resume(
        self, tenant_id: str, review: review_pb2.Review, decision: team_pb2.ReviewDecision
    ) -> None:
        if self.resume is None:
            return
        try:
            await self.resume(tenant_id, review.workflow_id, resume_value(decision))
        except (
            FailedPrecondition
        ) as exc:  # driven elsewhere; the graph finds the decision when it pauses again
            log.info("review_resume_skipped", review_id=review.id, reason=exc.message)

    # --- expiry ----------------------------------------------------------------------------------------------

    async def _expire(self, tenant_id: str, stored: StoredReview) -> review_pb2.Review:
        review = review_pb2.Review()
        review.CopyFrom(stored.review)
        review.comments = "the review was not decided before its first post's publishing time"
        decision = team_pb2.ReviewDecision(
            round=review.round, verdict=team_pb2.REVIEW_VERDICT_REJECTED, comments=review.comments,
            reviewer="system", review_id=review.id,
        )  # fmt: skip
        self._decided(review, review_pb2.REVIEW_STATUS_EXPIRED, "system")
        if not await self.store.save(
            tenant_id, stored, review, decision.SerializeToString(deterministic=True)
        ):
            return (await self._stored(tenant_id, review.id)).review
        await self.audit(tenant_id, "system", "review.expire", f"reviews/{review.id}", {"team": review.team})
        record_decision(review)
        await self._resume(tenant_id, review, decision)
        return review

    async def expire_overdue(self) -> int:
        """Expire every pending review past its time (of every tenant); returns how many."""
        expired = 0
        for tenant_id, review_id in await self.store.overdue(datetime.now(UTC)):
            stored = await self.store.get(tenant_id, review_id)
            if stored is not None and stored.review.status == PENDING:
                await self._expire(tenant_id, stored)
                expired += 1
        return expired

    def start(self) -> None:
        """Expire overdue reviews every ``REVIEW_EXPIRY_POLL_S``."""
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep(), name="review-expiry")

    async def stop(self) -> None:
        """Stop the expiry sweep."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
            self._sweeper = None

    async def _sweep(self) -> None:
        while True:
            try:
                await self.expire_overdue()
            except Exception:  # a database hiccup must not end the sweep
                log.exception("review_expiry_failed")
            await asyncio.sleep(self.settings.review_expiry_poll_s)


def _overdue(review: review_pb2.Review) -> bool:
    return review.HasField("expire_time") and review.expire_time.ToDatetime(UTC) <= datetime.now(UTC)


def _check_self_approval(caller: Principal, review: review_pb2.Review, allowed: bool) -> None:
    """A reviewer may not approve a task they submitted unless the tenant allows it (with AUTH_DISABLED there are
    no identities to tell apart: loopback development only)."""
    if allowed or caller.method is AuthMethod.DISABLED or not review.submitted_by:
        return
    if caller.actor == review.submitted_by:
        raise PermissionDenied("a reviewer may not approve a task they submitted", "self_approval")


def _apply_edits(review: review_pb2.Review, edits: Mapping[str, str], brand: tenant_pb2.BrandProfile) -> None:
    """Put the reviewer's edited texts on the items and check them again (platform limit, brand rules).

    Raises:
        InvalidArgument: An edit names no item, is empty, or is longer than the platform allows.
    """
    views = {v.item.artifact_id: v for v in review.items}
    problems = []
    for index, (artifact_id, text) in enumerate(edits.items()):
        field = f"edits[{index}]"
        view = views.get(artifact_id)
        if view is None:
            problems.append(FieldViolation(f"{field}.artifact_id", "names no item of the review"))
        elif not text.strip():
            problems.append(FieldViolation(f"{field}.text", "must not be empty"))
        else:
            findings = [_finding(f) for f in check_text(text, brand, view.item.max_length)]
            problems += [FieldViolation(f"{field}.text", f.message) for f in findings if f.rule == "length"]
            view.approved_text = text
            del view.findings[:]
            view.findings.extend(f for f in findings if f.rule != "moderation")
            view.flagged = _flagged(view.findings)
    raise_if_invalid(problems)
