"""Warm the tool-result cache with common research queries.

    python -m research_service.warm_cache "vector database market" "best time to post on linkedin"
    python -m research_service.warm_cache --file queries.txt      # one query a line
    python -m research_service.warm_cache --tenant acme "brand voice"

It runs the research team's cached tools (search, then reading the sources found) for each query, as one tenant
(``--tenant``, default ``default``: cache entries are per tenant), over the shared documents. With ``REDIS_URL``
set, every research replica then answers that tenant's queries from the cache; the in-process cache only lives as
long as this command, so warming is for Redis.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from langchain_core.tools import BaseTool

from common.auth.principal import DEFAULT_TENANT, acting_as, system_principal, valid_tenant_id
from common.cache import open_tool_cache
from common.config import get_settings
from common.errors import ConfigError
from research_service.__main__ import load_knowledge_base
from research_service.tools import research_tools


async def warm(queries: list[str], tenant: str = DEFAULT_TENANT) -> tuple[int, int]:
    """Run the cached tools for each query as a tenant; returns (hits, misses)."""
    settings = get_settings()
    tool_cache = await open_tool_cache(settings)
    try:
        search, read = research_tools(load_knowledge_base(settings), tool_cache)
        with acting_as(system_principal(tenant)):
            await _warm_queries(search, read, queries)
        return tool_cache.hits, tool_cache.misses
    finally:
        await tool_cache.cache.close()


async def _warm_queries(search: BaseTool, read: BaseTool, queries: list[str]) -> None:
    for query in queries:
        hits = await search.ainvoke({"query": query, "max_results": 5})
        if hits:
            await read.ainvoke({"document_ids": [h["document_id"] for h in hits], "query": query})


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("queries", nargs="*", help="queries to warm")
    parser.add_argument("--file", type=Path, help="a file with one query a line")
    parser.add_argument("--tenant", default=DEFAULT_TENANT, help="the tenant whose cache to warm")
    args = parser.parse_args(argv)
    if not valid_tenant_id(args.tenant):
        parser.error(f"--tenant {args.tenant!r} is not a tenant id (2-63 of a-z, 0-9 and '-')")
    queries = list(args.queries)
    if args.file:
        queries += [line.strip() for line in args.file.read_text().splitlines() if line.strip()]
    if not queries:
        parser.error("give queries or --file")
    try:
        hits, misses = asyncio.run(warm(queries, args.tenant))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"warmed {len(queries)} queries: {misses} tool results stored, {hits} already cached")
    return 0


if __name__ == "__main__":
    sys.exit(main())
