"""A fake OpenAI Images API on loopback: ``POST /v1/images/generations`` with real PNGs made by PIL.

It checks what the real API checks that matters to the client (Bearer auth, JSON body, model, n, size and
``response_format``) and answers in the real shapes: ``{"created", "data": [{"b64_json" | "url",
"revised_prompt"}], "usage"}``, or OpenAI error bodies ``{"error": {"message", "type", "param", "code"}}``.
"""

from __future__ import annotations

import base64
import io
import re
import time
from typing import Any

from PIL import Image

from tests.fakes.http_api import FakeApi, Recorded, Response

__all__ = ["FakeImagesApi", "openai_error", "png_bytes"]

PATH = "/v1/images/generations"
_SIZES = {
    "gpt-image": {"1024x1024", "1536x1024", "1024x1536", "auto"},
    "dall-e-3": {"1024x1024", "1792x1024", "1024x1792"},
    "dall-e-2": {"256x256", "512x512", "1024x1024"},
}


def png_bytes(width: int = 16, height: int = 9, colour: tuple[int, int, int] = (40, 110, 200)) -> bytes:
    """A real, small PNG."""
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def openai_error(
    status: int, message: str, type_: str, code: str | None = None, param: str | None = None
) -> Response:
    """An error answer in OpenAI's shape."""
    return Response(status, {"error": {"message": message, "type": type_, "param": param, "code": code}})


class FakeImagesApi(FakeApi):
    """The images endpoint; ``key`` is the API key it accepts (None accepts any request without checking)."""

    def __init__(self, key: str | None = "sk-test-images", png: bytes | None = None) -> None:
        super().__init__()
        self.key = key
        self.png = png if png is not None else png_bytes()
        self.route("POST", re.escape(PATH), self._generate)

    def fail_openai(
        self, status: int, message: str, type_: str, code: str | None = None, *, headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:  # fmt: skip
        """Answer the next ``times`` generations with an OpenAI error body."""
        error = openai_error(status, message, type_, code)
        self.fail(status, error.body, headers, path=re.escape(PATH), times=times)

    def _generate(self, request: Recorded, match: re.Match[str]) -> Response:
        if self.key is not None and request.headers.get("authorization") != f"Bearer {self.key}":
            return openai_error(
                401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"
            )
        try:
            body: Any = request.json()
        except ValueError:
            return openai_error(
                400, "We could not parse the JSON body of your request.", "invalid_request_error"
            )
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("prompt"), str)
            or not body["prompt"].strip()
        ):
            return openai_error(
                400, "Missing required parameter: 'prompt'.", "invalid_request_error", param="prompt"
            )
        model = str(body.get("model", ""))
        family = next((f for f in _SIZES if model.startswith(f)), None)
        if family is None:
            return openai_error(
                404, f"The model '{model}' does not exist.", "invalid_request_error", "model_not_found"
            )
        if body.get("n", 1) != 1:
            return openai_error(400, "n must be 1 in this fake.", "invalid_request_error", param="n")
        if body.get("size", "1024x1024") not in _SIZES[family]:
            return openai_error(400, f"Invalid size for {model}.", "invalid_request_error", param="size")
        if family == "gpt-image" and "response_format" in body:
            return openai_error(
                400, "Unknown parameter: 'response_format'.", "invalid_request_error", "unknown_parameter"
            )
        b64 = base64.b64encode(self.png).decode()
        if family == "gpt-image":
            item: dict[str, Any] = {"b64_json": b64}
            usage = {"input_tokens": 50, "output_tokens": 4160, "total_tokens": 4210}
            return Response(200, {"created": int(time.time()), "data": [item], "usage": usage})
        item = (
            {"b64_json": b64}
            if body.get("response_format") == "b64_json"
            else {"url": "https://images.example.invalid/img.png"}
        )
        if family == "dall-e-3":
            item["revised_prompt"] = "A revised: " + body["prompt"]
        return Response(200, {"created": int(time.time()), "data": [item]})
