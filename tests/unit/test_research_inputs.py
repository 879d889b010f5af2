"""Validation of the research tools' inputs: repository names, and which URLs may be fetched (SSRF)."""

from __future__ import annotations

import pytest

from research_service.github_metrics import parse_repository, repositories_in
from research_service.web_pages import FetchRefused, PageFetcher
from tests.conftest import test_settings


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("qdrant/qdrant", "qdrant/qdrant"),
        ("https://github.com/pallets/flask", "pallets/flask"),
        ("github.com/pallets/flask.git", "pallets/flask"),
        (" octo-org/my.repo_1 ", "octo-org/my.repo_1"),
    ],
)
def test_valid_repository_names(text: str, expected: str) -> None:
    assert parse_repository(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "qdrant",
        "a/b/c",
        "-bad/name",
        "owner/..",
        "own er/name",
        "owner/na;me",
        "../etc/passwd",
        "x" * 40 + "/y",
    ],
)
def test_invalid_repository_names_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a GitHub repository name"):
        parse_repository(text)


def test_repositories_named_in_a_task() -> None:
    task = (
        "Compare github.com/qdrant/qdrant with weaviate/weaviate and https://github.com/milvus-io/milvus "
        "(and/or qdrant/qdrant again) for our launch."
    )
    assert repositories_in(task) == ["qdrant/qdrant", "weaviate/weaviate", "milvus-io/milvus"]
    assert repositories_in("Research the vector database market") == []


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/admin",
        "http://localhost:8080/",
        "http://10.0.0.5/",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0/",
        "ftp://example.com/file",
        "file:///etc/passwd",
        "javascript:alert(1)",
    ],
)
async def test_private_and_non_http_urls_are_refused(url: str) -> None:
    fetcher = PageFetcher.from_settings(test_settings())
    with pytest.raises(FetchRefused) as caught:
        await fetcher.check_url(url)
    assert str(caught.value).startswith("web: ")


async def test_private_networks_can_be_allowed() -> None:
    fetcher = PageFetcher.from_settings(test_settings(fetch_allow_private_networks=True))
    await fetcher.check_url("http://127.0.0.1:8080/")
    with pytest.raises(FetchRefused):
        await fetcher.check_url("ftp://127.0.0.1/")
