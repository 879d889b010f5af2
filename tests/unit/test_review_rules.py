"""Review building blocks: brand rules, approval policies, the artifact reducer, edit distance and the summary."""

from __future__ import annotations

import pytest
from marketing.supervisor.v1 import review_pb2
from marketing.team.v1 import team_pb2
from marketing.tenant.v1 import tenant_pb2

from common.agents.review_gate import (
    REVIEW_GATE,
    REVIEW_RESET,
    ReviewGate,
    ReviewStage,
    digest,
    merge_artifacts,
    review_required,
    since_last_reset,
    stricter_policy,
)
from common.brand_rules import Severity, check_text
from supervisor_service.review_metrics import edit_distance, summarize

BRAND = tenant_pb2.BrandProfile(
    banned_phrases=["game-changer"],
    banned_claims=["guaranteed results"],
    competitor_names=["Pinecone"],
    required_disclosures=["#ad"],
    max_hashtags=2,
    allowed_hashtags=["vectors"],
    allowed_link_domains=["example.com"],
)


def rules(text: str, brand: tenant_pb2.BrandProfile = BRAND, limit: int = 0) -> dict[str, Severity]:
    return {f.rule: f.severity for f in check_text(text, brand, limit)}


def test_a_clean_post_has_no_finding() -> None:
    assert rules("Fast search for your #vectors, see https://docs.example.com/start #ad") == {}


@pytest.mark.parametrize(
    ("text", "rule", "severity"),
    [
        ("A Game-Changer for search #ad", "banned_phrase", Severity.FLAGGED),
        ("Guaranteed results in a week #ad", "banned_claim", Severity.FLAGGED),
        ("Faster than pinecone #ad", "competitor", Severity.FLAGGED),
        ("Fast search for everyone", "missing_disclosure", Severity.FLAGGED),
        ("#vectors #vectors #vectors #ad", "hashtags", Severity.WARNING),
        ("Try it #newthing #ad", "hashtags", Severity.FLAGGED),
        ("See https://evil.example.org/x #ad", "link", Severity.FLAGGED),
    ],
)
def test_each_rule_finds_its_problem(text: str, rule: str, severity: Severity) -> None:
    assert rules(text)[rule] == severity


def test_whole_words_only_and_links_can_be_forbidden() -> None:
    assert "competitor" not in rules("Pineconeish is not a name #ad")
    forbidden = tenant_pb2.BrandProfile(links_forbidden=True)
    assert rules("read www.example.com now", forbidden) == {"link": Severity.FLAGGED}
    assert rules("x" * 281, tenant_pb2.BrandProfile(), limit=280) == {"length": Severity.FLAGGED}


def test_a_task_can_tighten_the_tenants_policy_never_loosen_it() -> None:
    none, before, content = (
        "APPROVAL_POLICY_NONE",
        "APPROVAL_POLICY_BEFORE_PUBLISHING",
        "APPROVAL_POLICY_BEFORE_CONTENT_LEAVES",
    )
    assert stricter_policy(none, before) == before
    assert stricter_policy(content, none) == content
    assert stricter_policy(before, "") == before
    assert stricter_policy("", none) == "APPROVAL_POLICY_UNSPECIFIED"


def test_the_default_policy_reviews_only_live_publishing() -> None:
    live = ReviewGate(ReviewStage.PUBLISHING, ("social_post",), live=True)
    dry = ReviewGate(ReviewStage.PUBLISHING, ("social_post",), live=False)
    content = ReviewGate(ReviewStage.CONTENT, ("article",))
    assert review_required(live, "APPROVAL_POLICY_UNSPECIFIED")
    assert not review_required(dry, "APPROVAL_POLICY_UNSPECIFIED")
    assert review_required(dry, "APPROVAL_POLICY_BEFORE_PUBLISHING")
    assert not review_required(live, "APPROVAL_POLICY_NONE")
    assert not review_required(content, "APPROVAL_POLICY_BEFORE_PUBLISHING")
    assert review_required(content, "APPROVAL_POLICY_BEFORE_CONTENT_LEAVES")
    assert not review_required(None, "APPROVAL_POLICY_BEFORE_CONTENT_LEAVES")


def test_artifacts_are_replaced_by_id_and_appended_otherwise() -> None:
    a = {"id": "s-1", "content": "draft"}
    b = {"id": "s-2", "content": "other"}
    merged = merge_artifacts([a, b], [{"id": "s-1", "content": "approved"}, {"id": "s-3", "content": "new"}])  # type: ignore[list-item]
    assert [(x["id"], x["content"]) for x in merged] == [
        ("s-1", "approved"),
        ("s-2", "other"),
        ("s-3", "new"),
    ]


def test_workers_run_again_after_a_change_request() -> None:
    completed = [
        {"name": "post_drafter", "outcome": "drafted"},
        {"name": REVIEW_RESET, "outcome": "changes requested: shorter"},
        {"name": "post_drafter", "outcome": "drafted again"},
    ]
    assert since_last_reset(completed) == [
        {"name": REVIEW_GATE, "outcome": "changes requested: shorter"},
        {"name": "post_drafter", "outcome": "drafted again"},
    ]
    assert since_last_reset(completed[:1]) == completed[:1]


def test_edit_distance_and_digest() -> None:
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("same", "same") == 0
    assert edit_distance("", "abc") == 3
    assert digest("é") == "4a99557e4033c3539de2eb65472017cad5f9557f7a0625a09f1c3f6e2ba69c4c"  # UTF-8 bytes


def test_the_summary_counts_approvals_edits_and_reasons() -> None:
    def view(text: str, approved: str = "") -> review_pb2.ReviewItemView:
        item = team_pb2.ReviewItem(artifact_id="s-1", text=text, agent="post_drafter", model="m")
        return review_pb2.ReviewItemView(item=item, approved_text=approved)

    approved = review_pb2.Review(team="social", status=review_pb2.REVIEW_STATUS_APPROVED,
                                 items=[view("abc", "abd"), view("x", "x")])  # fmt: skip
    sent_back = review_pb2.Review(team="social", status=review_pb2.REVIEW_STATUS_CHANGES_REQUESTED,
                                  items=[view("no")], comments="too long")  # fmt: skip
    (figures,) = summarize([approved, sent_back])
    assert (figures.decided_items, figures.approved_items, figures.edited_items) == (3, 2, 1)
    assert figures.approval_rate == pytest.approx(2 / 3)
    assert figures.mean_edit_distance == 0.5
    assert list(figures.rejection_reasons) == ["too long"]
