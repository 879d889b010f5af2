"""Keyset pagination, newest first, shared by every list query: opaque page tokens bound to their filters."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from common.storage.database import Database

T = TypeVar("T")


class BadPageToken(ValueError):
    """A page token that this store did not issue (or issued for other filters)."""


def encode_page_token(created_at: datetime, row_id: str, filters: Mapping[str, str]) -> str:
    """The token of the page after the row (``created_at``, ``row_id``), for these filters."""
    payload = json.dumps({"t": created_at.isoformat(), "i": row_id, "f": dict(filters)}, sort_keys=True)
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_page_token(token: str, filters: Mapping[str, str]) -> tuple[datetime, str]:
    """The (created_at, id) a token continues after.

    Raises:
        BadPageToken: The token is malformed, or was issued for other filters.
    """
    try:
        payload = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        created, last_id, issued_for = datetime.fromisoformat(payload["t"]), str(payload["i"]), payload["f"]
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise BadPageToken("page_token is not a token this service issued") from exc
    if created.tzinfo is None or not isinstance(issued_for, dict):
        raise BadPageToken("page_token is not a token this service issued")
    try:
        uuid.UUID(last_id)  # every paged table has UUID ids; a forged one must not reach the query
    except ValueError:
        raise BadPageToken("page_token is not a token this service issued") from None
    if issued_for != dict(filters):
        changed = sorted(k for k in set(issued_for) | set(filters) if issued_for.get(k) != filters.get(k))
        raise BadPageToken(f"page_token was issued for another {' and '.join(changed)} filter")
    return created, last_id


async def newest_first(
    db: Database,
    table: str,
    filters: Mapping[str, str],
    page_size: int,
    page_token: str,
    record: Callable[[Any], T],
    key: Callable[[T], tuple[datetime, str]],
) -> tuple[list[T], str]:
    """One page of ``table`` ordered by (created_at, id) descending, where each non-empty filter column equals
    its value; returns the records and the next page's token ("" on the last page).

    Raises:
        BadPageToken: The token is malformed or was issued for other filters.
    """
    active = {column: value for column, value in filters.items() if value}
    after = decode_page_token(page_token, active) if page_token else None
    clauses: list[str] = []
    args: list[object] = []  # the query's $n parameters: filter values, the page boundary, the row limit
    for column, value in active.items():
        args.append(value)
        clauses.append(f"{column} = ${len(args)}")
    if after is not None:
        args += [after[0], after[1]]
        n = len(args)
        clauses.append(f"(created_at < ${n - 1} OR (created_at = ${n - 1} AND id < ${n}))")
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    args.append(page_size + 1)
    rows = await db.fetch(
        f"SELECT * FROM {table} {where} ORDER BY created_at DESC, id DESC LIMIT ${len(args)}", *args
    )
    records = [record(row) for row in rows[:page_size]]
    token = encode_page_token(*key(records[-1]), active) if len(rows) > page_size else ""
    return records, token
