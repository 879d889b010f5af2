"""Image generation through the OpenAI Images API (``POST {base}/images/generations``), and image briefs.

Images are on when ``IMAGE_MODEL`` is set and a key (``IMAGES_API_KEY``, else ``OPENAI_API_KEY``) or a base URL
(``IMAGES_BASE_URL``, else ``OPENAI_BASE_URL``) is available. The prompt is always built here from a short subject
(the article's title or the task's topic) with a fixed template, so upstream research text never reaches it.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from PIL import Image, UnidentifiedImageError

from common.config import Settings
from common.text import clip
from common.tools.http import ExternalApi, ExternalServiceError, OptionalService
from common.tools.untrusted import unfence

SERVICE = "openai-images"
DEFAULT_URL = "https://api.openai.com/v1"
HOW_TO_ENABLE = (
    "set IMAGE_MODEL and IMAGES_API_KEY (or OPENAI_API_KEY), or IMAGES_BASE_URL for a compatible server"
)
OFF_NOTICE = f"Image generation is off: {HOW_TO_ENABLE} to turn it on."
MAX_SUBJECT_CHARS = 120
MAX_IMAGE_BYTES = 20_000_000
"""Largest answer read from the API; the PNG kept is at most half of ``GRPC_MAX_MESSAGE_BYTES``."""

Orientation = Literal["square", "landscape", "portrait"]

_SIZES: dict[str, dict[str, str]] = {
    "gpt-image": {"square": "1024x1024", "landscape": "1536x1024", "portrait": "1024x1536"},
    "dall-e-3": {"square": "1024x1024", "landscape": "1792x1024", "portrait": "1024x1792"},
    "dall-e-2": {"square": "1024x1024", "landscape": "1024x1024", "portrait": "1024x1024"},
}
SOCIAL_SIZES = {"X": "1600x900 (16:9)", "LinkedIn": "1200x627 (1.91:1)"}
"""Crops the brief asks for: the recommended in-feed image sizes of each platform."""
PALETTE = "two brand colours on a light neutral background, one accent colour for the focal point"
COMPOSITION = (
    "one clear focal point slightly off-centre, generous negative space on one side for a headline overlay, "
    "nothing important within 10% of the edges (platform crops)"
)
_UNSAFE = re.compile(r"[\x00-\x1f\x7f\"“”<>`]")


@dataclass(frozen=True)
class GeneratedImage:
    """A generated PNG and what the API said about it."""

    png: bytes
    model: str
    size: str
    prompt: str
    revised_prompt: str


def clean_subject(subject: str) -> str:
    """The subject as the prompt uses it: unfenced, one line, no quotes or markup, at most 120 characters."""
    return clip(" ".join(_UNSAFE.sub(" ", unfence(subject)).split()), MAX_SUBJECT_CHARS)


def image_prompt(subject: str) -> str:
    """The image prompt for a subject (a title or topic), from a fixed template."""
    return (
        f'Editorial illustration for a marketing article titled "{clean_subject(subject)}". Clean, modern flat '
        f"style; {COMPOSITION}; palette: {PALETTE}. No text, letters, logos or watermarks."
    )


def alt_text(subject: str) -> str:
    """Alt text for the image of a subject."""
    return f"Editorial illustration for the article “{clean_subject(subject)}”."


def size_for(model: str, orientation: str) -> str:
    """The API's size string for a model family and an orientation (dall-e-2 only makes squares)."""
    family = next((f for f in _SIZES if model.startswith(f)), "gpt-image")
    return _SIZES[family].get(orientation, _SIZES[family]["square"])


def decode_png(b64: str) -> bytes:
    """Decode and check a base64 PNG.

    Raises:
        ValueError: It is not valid base64 or not a PNG image.
    """
    try:
        data = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"image is not valid base64: {exc}") from None
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
            kind = image.format
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise ValueError(f"image does not decode: {exc}") from None
    if kind != "PNG":
        raise ValueError(f"image is {kind}, not PNG")
    return data


def fit_png(png: bytes, max_bytes: int) -> bytes:
    """The PNG itself when it is at most ``max_bytes``, else re-encoded at 75 % of the size until it fits (an
    artifact travels inside gRPC messages capped by ``GRPC_MAX_MESSAGE_BYTES``)."""
    if len(png) <= max_bytes:
        return png
    with Image.open(io.BytesIO(png)) as image:
        image.load()
        current: Image.Image = image
        while len(png) > max_bytes and min(current.size) > 16:
            width, height = current.size
            current = current.resize(
                (max(1, width * 3 // 4), max(1, height * 3 // 4)), Image.Resampling.LANCZOS
            )
            buffer = io.BytesIO()
            current.save(buffer, format="PNG", optimize=True)
            png = buffer.getvalue()
    return png


@dataclass
class ImageGenerator(OptionalService):
    """The images API client (``api`` is None when image generation is off); PNGs larger than ``max_png_bytes``
    are scaled down."""

    service: ClassVar[str] = SERVICE
    how_to_enable: ClassVar[str] = HOW_TO_ENABLE

    model: str
    api: ExternalApi | None
    max_png_bytes: int = MAX_IMAGE_BYTES

    @classmethod
    def from_settings(cls, settings: Settings) -> ImageGenerator:
        """The generator the settings describe."""
        key = settings.images_api_key or settings.openai_api_key
        url = settings.images_base_url or settings.openai_base_url
        if not settings.image_model or not (key or url):
            return cls(settings.image_model or "", None)
        headers = {"authorization": f"Bearer {key}"} if key else {}
        api = ExternalApi.from_settings(SERVICE, url or DEFAULT_URL, settings, headers)
        return cls(settings.image_model, api, min(MAX_IMAGE_BYTES, settings.grpc_max_message_bytes // 2))

    def describe(self, api: ExternalApi) -> str:
        """The model and where it is served."""
        return f"{self.model} at {api.base_url}"

    async def generate(self, subject: str, orientation: str = "landscape") -> GeneratedImage:
        """Generate one PNG for a subject (prompt from :func:`image_prompt`).

        Raises:
            ServiceNotConfigured: Image generation is off.
            ExternalServiceError: The API failed or answered without a decodable PNG.
        """
        api = self.require()
        prompt = image_prompt(subject)
        size = size_for(self.model, orientation)
        body: dict[str, Any] = {"model": self.model, "prompt": prompt, "n": 1, "size": size}
        if self.model.startswith("dall-e"):
            body["response_format"] = "b64_json"
        # Retried after 5xx and timeouts too: a duplicate generation costs money but has no other effect.
        response = await api.request("POST", "/images/generations", json=body, max_bytes=MAX_IMAGE_BYTES)
        try:
            data = response.json()
        except ValueError:
            raise self._bad("answered with a body that is not JSON") from None
        items = data.get("data") if isinstance(data, dict) else None
        if not isinstance(items, list) or not items or not isinstance(items[0], dict):
            raise self._bad("answered without an image")
        first = items[0]
        if not isinstance(first.get("b64_json"), str):
            raise self._bad("answered with an image URL instead of b64_json data")
        try:
            png = decode_png(first["b64_json"])
        except ValueError as exc:
            raise self._bad(str(exc)) from None
        revised = first.get("revised_prompt")
        return GeneratedImage(
            fit_png(png, self.max_png_bytes),
            self.model,
            size,
            prompt,
            revised if isinstance(revised, str) else "",
        )

    def _bad(self, what: str) -> ExternalServiceError:
        return ExternalServiceError(SERVICE, what, retryable=False, delivered=True)


def image_brief(subject: str, reason: str) -> str:
    """A markdown image brief (prompt, alt text, composition, palette, social sizes) and why it is not an image."""
    sizes = "\n".join(f"- {platform}: {size}" for platform, size in SOCIAL_SIZES.items())
    return "\n".join(
        [
            f"# Image brief: {clean_subject(subject)}",
            "",
            reason,
            "",
            f"**Prompt:** {image_prompt(subject)}",
            "",
            f"**Alt text:** {alt_text(subject)}",
            "",
            f"**Composition:** {COMPOSITION}.",
            "",
            f"**Palette:** {PALETTE}.",
            "",
            "**Sizes:**",
            sizes,
        ]
    )
