"""A fake web site for page fetching: article pages with navigation and footer boilerplate, redirects, plain
text, binary files and oversized pages."""

from __future__ import annotations

import re

from tests.fakes.http_api import FakeApi, Recorded, Response

__all__ = ["ARTICLE_SENTENCE", "FakeWebSite", "article_html"]

ARTICLE_SENTENCE = (
    "Vector databases index embeddings so that similarity search stays fast at billions of vectors."
)


def article_html(title: str, lead: str) -> str:
    """A realistic article page: head metadata, navigation, the article, a cookie banner and a footer."""
    paragraphs = "\n".join(
        f"<p>{lead} Paragraph {n} explains how teams evaluate recall, latency and cost when they choose an "
        f"engine, and why hybrid search with keyword filters matters for production workloads.</p>"
        for n in range(1, 6)
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title} | Example News</title>
<meta name="author" content="Ada Writer"><meta property="og:site_name" content="Example News">
<meta name="date" content="2026-10-05"></head>
<body>
<nav><ul><li><a href="/">Home</a></li><li><a href="/pricing">Pricing</a></li><li><a href="/login">Sign in</a></li>
<li>NAVIGATION-BOILERPLATE-MENU</li></ul></nav>
<main><article><h1>{title}</h1>
<p class="byline">By Ada Writer, October 5, 2026</p>
{paragraphs}
</article></main>
<div class="cookie-banner">We use cookies. COOKIE-BOILERPLATE accept all.</div>
<footer><p>Copyright 2026 Example News. FOOTER-BOILERPLATE All rights reserved.</p>
<a href="/privacy">Privacy</a> <a href="/terms">Terms</a></footer>
</body></html>"""


class FakeWebSite(FakeApi):
    """Pages under ``/articles/<slug>``, ``/plain.txt``, ``/report.pdf``, ``/huge``, ``/hop/<n>`` (a redirect chain
    of n hops ending on an article) and ``/to?url=`` (a redirect to any URL)."""

    def __init__(self) -> None:
        super().__init__()
        self.route("GET", r"/articles/(?P<slug>[\w-]+)", self._article)
        self.route(
            "GET",
            r"/plain\.txt",
            lambda r, m: Response(
                200,
                raw=b"Plain notes. " + ARTICLE_SENTENCE.encode(),
                content_type="text/plain; charset=utf-8",
            ),
        )
        self.route(
            "GET",
            r"/report\.pdf",
            lambda r, m: Response(200, raw=b"%PDF-1.7 binary", content_type="application/pdf"),
        )
        self.route(
            "GET",
            r"/huge",
            lambda r, m: Response(
                200, raw=b"<html><body>" + b"x" * 300_000 + b"</body></html>", content_type="text/html"
            ),
        )
        self.route("GET", r"/hop/(?P<n>\d+)", self._hop)
        self.route("GET", r"/to", lambda r, m: Response(302, headers={"location": r.query["url"][0]}))

    def article_url(self, slug: str) -> str:
        """The absolute URL of an article."""
        return f"{self.url}/articles/{slug}"

    def _article(self, request: Recorded, match: re.Match[str]) -> Response:
        title = match["slug"].replace("-", " ").title()
        html = article_html(title, ARTICLE_SENTENCE)
        return Response(200, raw=html.encode(), content_type="text/html; charset=utf-8")

    def _hop(self, request: Recorded, match: re.Match[str]) -> Response:
        n = int(match["n"])
        location = f"/hop/{n - 1}" if n > 1 else "/articles/after-redirects"
        return Response(301, headers={"location": location})
