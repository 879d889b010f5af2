"""The tool-result cache on Redis (real server, own namespace per test) and in process."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis as sync_redis
import redis.asyncio as redis

from common.cache import MemoryCache, RedisCache, ToolCache, cache_key, open_cache
from common.config import load_settings
from common.errors import ConfigError
from common.launcher import free_port
from research_service.__main__ import load_knowledge_base
from research_service.tools import research_tools

REDIS_URL = "redis://127.0.0.1:6379/0"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["memory", "redis"])
async def tool_cache(request: pytest.FixtureRequest) -> AsyncIterator[ToolCache]:
    namespace = f"test-{uuid.uuid4().hex[:10]}"
    if request.param == "memory":
        yield ToolCache(MemoryCache(100), default_ttl_s=60, namespace=namespace)
        return
    client = redis.from_url(REDIS_URL)
    yield ToolCache(RedisCache(client), default_ttl_s=60, namespace=namespace)
    keys = [k async for k in client.scan_iter(f"marketing:tool:*:{namespace}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def test_a_miss_then_a_hit_with_normalised_arguments(tool_cache: ToolCache) -> None:
    calls = []

    async def search(query: str, max_results: int = 5) -> list[str]:
        calls.append(query)
        return [f"result for {query}"]

    cached = tool_cache.wrap("search", search)
    first = await cached(query="Vector  Databases", max_results=3)
    second = await cached(max_results=3, query="vector databases ")
    assert first == second == ["result for Vector  Databases"]
    assert calls == ["Vector  Databases"], "the second call was answered from the cache"
    assert (tool_cache.hits, tool_cache.misses) == (1, 1)
    await cached(query="vector databases", max_results=4)
    assert len(calls) == 2, "other arguments are another entry"


async def test_entries_expire_after_their_tools_ttl(tool_cache: ToolCache) -> None:
    tool_cache.ttls = {"short": 0.3, "never": 0}
    calls = []

    async def tool(x: int) -> int:
        calls.append(x)
        return x * 2

    short = tool_cache.wrap("short", tool)
    never = tool_cache.wrap("never", tool)
    assert await short(x=1) == 2 and await short(x=1) == 2
    assert calls == [1]
    await asyncio.sleep(0.45)
    assert await short(x=1) == 2
    assert calls == [1, 1], "expired after the TTL"
    await never(x=5)
    await never(x=5)
    assert calls == [1, 1, 5, 5], "a TTL of 0 turns caching off"


async def test_research_tools_are_cached(tool_cache: ToolCache) -> None:
    search, _ = research_tools(load_knowledge_base(load_settings()), tool_cache)
    first = await search.ainvoke({"query": "best time to post on linkedin"})
    again = await search.ainvoke({"query": "Best time to post on LinkedIn"})
    assert first == again and first
    assert tool_cache.hits == 1 and tool_cache.misses == 1


def test_keys_differ_by_tool_and_namespace() -> None:
    assert cache_key("a", {"q": "x"}) != cache_key("b", {"q": "x"})
    assert cache_key("a", {"q": "x"}, "n1") != cache_key("a", {"q": "x"}, "n2")
    assert cache_key("a", {"q": " X ", "k": [1]}) == cache_key("a", {"k": [1], "q": "x"})


async def test_redis_down_at_start_up_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match=r"REDIS_URL points at 127\.0\.0\.1:1,"):
        await open_cache(load_settings(redis_url="redis://127.0.0.1:1/0"))
    memory = await open_cache(load_settings())
    assert memory.backend == "memory"


def test_a_research_service_with_an_unreachable_redis_refuses_to_start(tmp_path: Path) -> None:
    env = {**os.environ, "REDIS_URL": "redis://127.0.0.1:1/0", "DATA_DIR": str(tmp_path), "METRICS_PORT": "0",
           "RESEARCH_PORT": str(free_port())}  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "research_service"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "REDIS_URL points at 127.0.0.1:1" in result.stderr


def test_the_warm_command_fills_redis() -> None:
    client = sync_redis.Redis.from_url(REDIS_URL)
    queries = [
        f"vector database market {uuid.uuid4().hex[:6]}",
        f"linkedin posting times {uuid.uuid4().hex[:6]}",
    ]
    env = {**os.environ, "REDIS_URL": REDIS_URL}
    command = [sys.executable, "-m", "research_service.warm_cache", *queries]
    first = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    second = subprocess.run(
        command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    assert "4 tool results stored, 0 already cached" in first.stdout
    assert "0 tool results stored, 4 already cached" in second.stdout
    keys = [cache_key("search_knowledge_base", {"query": q, "max_results": 5}) for q in queries]
    assert client.exists(*keys) == 2
    client.delete(*keys)
    client.close()
