"""Offline knowledge base for the research team: markdown/text documents ranked with BM25 over passages.

The shared documents (the shipped samples and ``KNOWLEDGE_DIR``) are indexed once; a tenant's own documents
(``TenantProfile.knowledge_documents``, sent with each brief) are indexed beside them for that tenant's calls
only, with ids ``tenant:<document id>`` (a shared document's id, a path slug, never holds ':').
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import frontmatter
import yaml

from common.agents.profile import KnowledgeDocument
from common.text import clip, content_terms

logger = logging.getLogger(__name__)

DEFAULT_KNOWLEDGE_DIR: Path = Path(__file__).parent / "knowledge"

MAX_FILE_BYTES = 2 * 1024 * 1024
SNIPPET_CHARS = 300
BM25_K1 = 1.5
BM25_B = 0.75
# A query term found in the title adds TITLE_BOOST * idf(term) to the document score; in the tags, TAG_BOOST *
# idf(term). Both are small next to a strong passage match, so they mostly reorder near-ties.
TITLE_BOOST = 0.5
TAG_BOOST = 0.25
# Paragraphs shorter than this (in words) are merged with a neighbour in the same section.
MIN_PASSAGE_WORDS = 30

_SUFFIXES = (".md", ".txt")
TENANT_ID_PREFIX = "tenant:"
TENANT_SOURCE = "tenant knowledge base"
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_LIST_MARKER = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_EMPHASIS = re.compile(r"(\*\*|__|`)")
_SLUG = re.compile(r"[^a-z0-9]+")
_DOUBLED = re.compile(r"([b-df-hj-km-np-rtv-y])\1$")


@dataclass(frozen=True)
class Document:
    """One loaded document.

    Attributes:
        id: Unique slug of the path relative to its directory (e.g. ``"guides/seo-basics"``).
        title: Front matter title, else the first ``# `` heading, else the file stem.
        source: Front matter source, else the file name.
        tags: Front matter tags (may be empty).
        text: The body without front matter.
        path: The file it was read from.
    """

    id: str
    title: str
    source: str
    tags: tuple[str, ...]
    text: str
    path: Path


def tenant_documents(records: Sequence[KnowledgeDocument]) -> list[Document]:
    """A tenant's knowledge documents (``common.agents.profile.knowledge_documents`` of its profile) as documents
    with ids ``tenant:<id>``; a repeated id keeps the first."""
    documents: list[Document] = []
    seen: set[str] = set()
    for record in records:
        if record.id in seen:
            continue
        seen.add(record.id)
        documents.append(
            Document(
                id=f"{TENANT_ID_PREFIX}{record.id}",
                title=record.title.strip() or _first_heading(record.body) or record.id,
                source=TENANT_SOURCE,
                tags=(),
                text=record.body,
                path=Path(record.id),
            )
        )
    return documents


class _Scored:
    """Shared ``to_dict`` of scored results."""

    score: float

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form, score rounded to 4 decimals."""
        data = asdict(self)  # type: ignore[call-overload]
        data["score"] = round(self.score, 4)
        return data


@dataclass(frozen=True)
class SearchHit(_Scored):
    """A document matching a query, with its best passage as snippet."""

    document_id: str
    title: str
    source: str
    snippet: str
    score: float


@dataclass(frozen=True)
class Passage(_Scored):
    """A paragraph-sized piece of a document with its score for a query."""

    document_id: str
    title: str
    source: str
    text: str
    score: float


@dataclass(frozen=True)
class _IndexedPassage:
    doc_index: int
    text: str
    tf: dict[str, int]
    length: int


def normalize_term(term: str) -> str:
    """Light suffix stripping so inflected forms meet: possessive, plural "s"/"ies", then "ing"/"ed"."""
    if term.endswith("'s"):
        term = term[:-2]
    if len(term) > 4 and term.endswith("ies"):
        term = term[:-3] + "y"
    elif len(term) > 3 and term.endswith("s") and not term.endswith(("ss", "us", "is")):
        term = term[:-1]
    for suffix in ("ing", "ed"):
        if term.endswith(suffix) and len(term) - len(suffix) >= 3:
            term = term[: -len(suffix)]
            if _DOUBLED.search(term):
                term = term[:-1]
            break
    return term


def analyze(text: str) -> list[str]:
    """Normalised index terms of a text; hyphenated tokens also yield their parts ("open-source" -> open)."""
    terms: list[str] = []
    for token in content_terms(text):
        terms.append(normalize_term(token))
        if "-" in token:
            terms.extend(normalize_term(part) for part in content_terms(token.replace("-", " ")))
    return terms


def _clean_line(line: str) -> str:
    line = _LIST_MARKER.sub("", line)
    line = _LINK.sub(r"\1", line)
    return _EMPHASIS.sub("", line).strip()


def split_passages(body: str) -> list[tuple[str, str]]:
    """Split a markdown body into ``(heading, text)`` passages.

    Paragraphs are separated by blank lines; headings start a new section and are not passages themselves.
    Paragraphs under ``MIN_PASSAGE_WORDS`` words are merged with a neighbour in the same section.
    """
    sections: list[tuple[str, list[str]]] = [("", [])]
    lines: list[str] = []

    def flush() -> None:
        if lines:
            sections[-1][1].append(" ".join(lines))
            lines.clear()

    for raw in body.splitlines():
        heading_line = _HEADING.match(raw)
        if heading_line:
            flush()
            sections.append((_clean_line(heading_line.group(2)), []))
        elif not raw.strip():
            flush()
        else:
            cleaned = _clean_line(raw)
            if cleaned:
                lines.append(cleaned)
    flush()

    passages: list[tuple[str, str]] = []
    for heading, paragraphs in sections:
        merged: list[str] = []
        for paragraph in paragraphs:
            if merged and len(merged[-1].split()) < MIN_PASSAGE_WORDS:
                merged[-1] = f"{merged[-1]}\n\n{paragraph}"
            else:
                merged.append(paragraph)
        if len(merged) > 1 and len(merged[-1].split()) < MIN_PASSAGE_WORDS:
            tail = merged.pop()
            merged[-1] = f"{merged[-1]}\n\n{tail}"
        passages.extend((heading, text) for text in merged)
    return passages


def _slug(relative: Path) -> str:
    parts = [_SLUG.sub("-", part.lower()).strip("-") for part in relative.with_suffix("").parts]
    return "/".join(part or "_" for part in parts)


def _first_heading(body: str) -> str | None:
    for line in body.splitlines():
        match = _HEADING.match(line)
        if match and len(match.group(1)) == 1 and match.group(2):
            return _clean_line(match.group(2))
    return None


def _as_tags(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        items: list[Any] = value.split(",")
    elif isinstance(value, list | tuple | set):
        items = list(value)
    else:
        items = [value]
    return tuple(str(item).strip() for item in items if item is not None and str(item).strip())


def _read_document(path: Path, doc_id: str) -> Document | None:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            logger.warning("skipping %s: %d bytes exceeds the %d-byte cap", path, size, MAX_FILE_BYTES)
            return None
        raw = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        logger.warning("skipping %s: not valid UTF-8 (%s)", path, exc)
        return None
    except OSError as exc:
        logger.warning("skipping %s: unreadable (%s)", path, exc)
        return None
    try:
        post = frontmatter.loads(raw)
    except (yaml.YAMLError, ValueError, TypeError) as exc:
        logger.warning("skipping %s: broken front matter (%s)", path, exc)
        return None
    meta = post.metadata if isinstance(post.metadata, dict) else {}
    body = post.content
    title = str(meta.get("title") or "").strip() or _first_heading(body) or path.stem
    source = str(meta.get("source") or "").strip() or path.name
    return Document(
        id=doc_id, title=title, source=source, tags=_as_tags(meta.get("tags")), text=body, path=path
    )


class KnowledgeBase:
    """An in-memory BM25 index over the passages of a set of documents."""

    def __init__(self, documents: Sequence[Document]) -> None:
        """Index the documents (ids must be unique).

        Raises:
            ValueError: On a duplicate document id.
        """
        self._documents: list[Document] = list(documents)
        self._by_id: dict[str, int] = {}
        for index, document in enumerate(self._documents):
            if document.id in self._by_id:
                raise ValueError(f"duplicate document id {document.id!r}")
            self._by_id[document.id] = index

        self._passages: list[_IndexedPassage] = []
        self._doc_passages: list[list[int]] = []
        self._title_index: dict[str, list[int]] = {}
        self._tag_index: dict[str, list[int]] = {}
        for doc_index, document in enumerate(self._documents):
            ids: list[int] = []
            for heading, text in split_passages(document.text):
                terms = analyze(heading) + analyze(text)
                ids.append(len(self._passages))
                self._passages.append(_IndexedPassage(doc_index, text, dict(Counter(terms)), len(terms)))
            self._doc_passages.append(ids)
            for term in dict.fromkeys(analyze(document.title)):
                self._title_index.setdefault(term, []).append(doc_index)
            for term in dict.fromkeys(analyze(" ".join(document.tags))):
                self._tag_index.setdefault(term, []).append(doc_index)

        count = len(self._passages)
        total = sum(passage.length for passage in self._passages)
        self._avgdl = total / count if count else 0.0
        self._postings: dict[str, list[tuple[int, int]]] = {}
        for passage_id, passage in enumerate(self._passages):
            for term, tf in passage.tf.items():
                self._postings.setdefault(term, []).append((passage_id, tf))
        self._norms = [
            BM25_K1 * (1 - BM25_B + BM25_B * (passage.length / self._avgdl if self._avgdl else 0.0))
            for passage in self._passages
        ]

    @classmethod
    def load(cls, directories: Sequence[Path]) -> KnowledgeBase:
        """Read every ``*.md`` and ``*.txt`` file under the directories, recursively.

        Unreadable, non-UTF-8, oversized (> 2 MB) files and files with broken front matter are skipped with
        a warning. Ids are path slugs relative to their directory; on a collision the directory index is
        prefixed.

        Args:
            directories: Directories to scan, in priority order.

        Returns:
            The indexed knowledge base.

        Raises:
            ValueError: If a directory does not exist or is not a directory.
        """
        roots = [Path(directory) for directory in directories]
        for root in roots:
            if not root.is_dir():
                raise ValueError(f"knowledge directory not found: {root}")
        documents: list[Document] = []
        taken: set[str] = set()
        for dir_index, root in enumerate(roots):
            files = sorted(p for p in root.rglob("*") if p.suffix.lower() in _SUFFIXES and p.is_file())
            for path in files:
                doc_id = _slug(path.relative_to(root))
                if doc_id in taken:
                    base = f"{dir_index}-{doc_id}"
                    doc_id, n = base, 2
                    while doc_id in taken:
                        doc_id, n = f"{base}-{n}", n + 1
                document = _read_document(path, doc_id)
                if document is not None:
                    taken.add(doc_id)
                    documents.append(document)
        return cls(documents)

    def __len__(self) -> int:
        """Number of documents."""
        return len(self._documents)

    def with_documents(self, extra: Sequence[Document]) -> KnowledgeBase:
        """A new index over these documents plus ``extra`` (ids must stay unique)."""
        return KnowledgeBase([*self._documents, *extra])

    def get(self, document_id: str) -> Document | None:
        """The document with this id, or None."""
        index = self._by_id.get(document_id)
        return None if index is None else self._documents[index]

    def _idf(self, term: str) -> float:
        count = len(self._passages)
        df = len(self._postings.get(term, ()))
        return math.log((count - df + 0.5) / (df + 0.5) + 1.0)

    def _passage_scores(self, terms: Sequence[str]) -> dict[int, float]:
        scores: dict[int, float] = {}
        for term in terms:
            postings = self._postings.get(term)
            if not postings:
                continue
            idf = self._idf(term)
            for passage_id, tf in postings:
                gain = idf * tf * (BM25_K1 + 1) / (tf + self._norms[passage_id])
                scores[passage_id] = scores.get(passage_id, 0.0) + gain
        return scores

    @staticmethod
    def _query_terms(query: str) -> list[str]:
        return list(dict.fromkeys(analyze(query)))

    def search(self, query: str, max_results: int = 5) -> list[SearchHit]:
        """Rank documents for a query.

        A document scores its best passage's BM25 score plus a small boost per query term in its title or
        tags; its snippet is that passage. Zero-score documents are dropped; ties are broken by id.

        Args:
            query: Free text; stopwords are ignored.
            max_results: Maximum number of hits (>= 1).

        Returns:
            Hits, best first; empty if the query has no content terms or nothing matches.

        Raises:
            ValueError: If ``max_results`` < 1.
        """
        if max_results < 1:
            raise ValueError(f"max_results must be >= 1, got {max_results}")
        terms = self._query_terms(query)
        if not terms:
            return []
        best: dict[int, tuple[float, int]] = {}
        for passage_id, score in self._passage_scores(terms).items():
            doc_index = self._passages[passage_id].doc_index
            current = best.get(doc_index)
            if current is None or (score, -passage_id) > (current[0], -current[1]):
                best[doc_index] = (score, passage_id)

        boosts: dict[int, float] = {}
        for term in terms:
            idf = self._idf(term)
            for doc_index in self._title_index.get(term, ()):
                boosts[doc_index] = boosts.get(doc_index, 0.0) + TITLE_BOOST * idf
            for doc_index in self._tag_index.get(term, ()):
                boosts[doc_index] = boosts.get(doc_index, 0.0) + TAG_BOOST * idf

        hits: list[SearchHit] = []
        for doc_index in best.keys() | boosts.keys():
            document = self._documents[doc_index]
            boost = boosts.get(doc_index, 0.0)
            passage_score, passage_id = best.get(doc_index, (0.0, -1))
            score = passage_score + boost
            if score <= 0.0:
                continue
            if passage_id < 0:
                ids = self._doc_passages[doc_index]
                text = self._passages[ids[0]].text if ids else ""
            else:
                text = self._passages[passage_id].text
            hits.append(
                SearchHit(
                    document_id=document.id,
                    title=document.title,
                    source=document.source,
                    snippet=clip(text, SNIPPET_CHARS),
                    score=score,
                )
            )
        hits.sort(key=lambda hit: (-hit.score, hit.document_id))
        return hits[:max_results]

    def key_passages(self, document_ids: Sequence[str], query: str, per_document: int = 2) -> list[Passage]:
        """The passages of given documents that best answer a query.

        Args:
            document_ids: Documents to draw from, in output order; unknown or repeated ids are ignored.
            query: Free text.
            per_document: Maximum passages per document (>= 1).

        Returns:
            Per document, its top ``per_document`` passages with a non-zero score, best first; a document
            with no scoring passage contributes its first passage with score 0.

        Raises:
            ValueError: If ``per_document`` < 1.
        """
        if per_document < 1:
            raise ValueError(f"per_document must be >= 1, got {per_document}")
        scores = self._passage_scores(self._query_terms(query))
        result: list[Passage] = []
        seen: set[str] = set()
        for document_id in document_ids:
            doc_index = self._by_id.get(document_id)
            if doc_index is None or document_id in seen:
                continue
            seen.add(document_id)
            document = self._documents[doc_index]
            ids = self._doc_passages[doc_index]
            ranked = sorted((-scores[i], i) for i in ids if scores.get(i, 0.0) > 0.0)[:per_document]
            chosen = [(i, -negative) for negative, i in ranked]
            if not chosen and ids:
                chosen = [(ids[0], 0.0)]
            result.extend(
                Passage(
                    document_id=document.id,
                    title=document.title,
                    source=document.source,
                    text=self._passages[i].text,
                    score=score,
                )
                for i, score in chosen
            )
        return result
