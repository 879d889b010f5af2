"""Schemathesis against the gateway's OpenAPI spec: every operation, with and without credentials; no 5xx and no
response that violates the schema (status codes, content types, bodies, headers). Also /docs and the spec itself."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import authenticated_stack, test_settings
from tests.integration.gateway_stack import bearer, running_gateway

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


@pytest.fixture(scope="module")
async def gateway() -> AsyncIterator[tuple[str, dict[str, str]]]:
    settings = test_settings(auth_disabled=False)
    async with authenticated_stack(settings, ["acme"]) as (channel, keys):
        async with running_gateway(settings, channel) as url:
            yield url, bearer(keys["acme"])


async def schemathesis(url: str, tmp_path: Path, *headers: str) -> tuple[int, str]:
    """Run the Schemathesis CLI (the gateway keeps serving in this event loop meanwhile)."""
    st = Path(sys.executable).with_name("st")
    options = [arg for header in headers for arg in ("-H", header)]
    process = await asyncio.create_subprocess_exec(
        str(st), "run", f"{url}/openapi.json", "--checks", CHECKS, "--max-examples", "8", "--seed", "19",
        "--request-timeout", "20", "--phases", "examples,coverage,fuzzing", *options,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=tmp_path,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), 600)
    return process.returncode or 0, output.decode(errors="replace")


@pytest.mark.timeout(900)
async def test_every_operation_with_and_without_credentials(gateway: Any, tmp_path: Path) -> None:
    url, headers = gateway
    code, output = await schemathesis(url, tmp_path, f"Authorization: {headers['authorization']}")
    assert code == 0, output[-6000:]
    assert "12 " in output or "/v1/tools" in output  # it really ran the operations
    code, output = await schemathesis(url, tmp_path)
    assert code == 0, output[-6000:]


async def test_spec_and_docs(gateway: Any) -> None:
    url, _ = gateway
    async with httpx.AsyncClient(base_url=url) as http:
        spec = (await http.get("/openapi.json")).json()
        docs = await http.get("/docs")
    assert spec["openapi"].startswith("3.1")
    assert spec["components"]["securitySchemes"]["HTTPBearer"] == {
        "type": "http", "scheme": "bearer", "description": "A tenant's API key (mka_...) or an OAuth2 access token",
    }  # fmt: skip
    submit = spec["paths"]["/v1/tasks"]["post"]
    assert submit["security"] == [{"HTTPBearer": []}]
    assert spec["components"]["schemas"]["SubmitTaskBody"]["examples"]
    assert {"400", "401", "403", "404", "429", "503", "504"} <= set(submit["responses"])
    assert (
        docs.status_code == 200
        and "swagger-ui" in docs.text
        and docs.headers["content-type"].startswith("text/html")
    )


def test_an_issuer_adds_the_openid_connect_scheme() -> None:
    from gateway_service.app import create_app

    settings = test_settings(auth_issuer="https://id.example.com", auth_audience="marketing")
    spec = create_app(settings).openapi()
    assert spec["components"]["securitySchemes"]["oauth2"]["openIdConnectUrl"] == (
        "https://id.example.com/.well-known/openid-configuration"
    )
