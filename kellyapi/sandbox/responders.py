"""How the sandbox answers each kind of route (named by the spec's `x-sandbox-responder`)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Mapping
from typing import Any

from kellyapi._core.endpoint import Endpoint
from kellyapi.sandbox import media
from kellyapi.sandbox.models import ModelLists

_MAX_SIDE = 4096
_UNKNOWN_IMAGE_SIZE = (512, 512)

Responder = Callable[[Endpoint[Any], Mapping[str, str], Mapping[str, Any], ModelLists], Any]


def _decoded(value: str) -> bytes:
    return base64.b64decode("".join(value.split()))


def _encoded(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _image_size(value: str) -> tuple[int, int]:
    found = media.image_size(_decoded(value))
    return found[1] if found else _UNKNOWN_IMAGE_SIZE


def _fingerprint(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:16]


def models(endpoint: Endpoint[Any], path: Mapping[str, str], body: Mapping[str, Any], known: ModelLists) -> Any:
    """The spec's example list, and the models of its kind that the sandbox was told to accept."""
    assert endpoint.models is not None
    return {"models": known.listing(endpoint.models, endpoint.example["models"])}


def image(endpoint: Endpoint[Any], path: Mapping[str, str], body: Mapping[str, Any], known: ModelLists) -> Any:
    """A PNG of the requested size whose colours follow the prompt (and the source image, if any)."""
    seed = body["prompt"] + _fingerprint(body.get("image_data", "")) + str(body.get("model", ""))
    return {"image": _encoded(media.png(body["width"], body["height"], seed))}


def upscaled_image(endpoint: Endpoint[Any], path: Mapping[str, str], body: Mapping[str, Any], known: ModelLists) -> Any:
    """A PNG twice the width and height of the input (capped at 4096 a side)."""
    width, height = _image_size(body["image_data"])
    size = min(2 * width, _MAX_SIDE), min(2 * height, _MAX_SIDE)
    return {"image": _encoded(media.png(*size, seed=_fingerprint(body["image_data"])))}


def cutout_image(endpoint: Endpoint[Any], path: Mapping[str, str], body: Mapping[str, Any], known: ModelLists) -> Any:
    """A PNG with an alpha channel, the size of the input."""
    width, height = _image_size(body["image_data"])
    return {"image": _encoded(media.png(width, height, seed=_fingerprint(body["image_data"]), alpha=True))}


def text_image(endpoint: Endpoint[Any], path: Mapping[str, str], body: Mapping[str, Any], known: ModelLists) -> Any:
    """A PNG sized to the text, as a handwriting or code render would be."""
    lines = body["code"].splitlines() or [""]
    width = max(64, min(2048, 32 + 9 * max(len(line) for line in lines)))
    height = max(64, min(2048, 32 + 20 * len(lines)))
    return {"image": _encoded(media.png(width, height, seed=body["code"]))}


def caption(endpoint: Endpoint[Any], path: Mapping[str, str], body: Mapping[str, Any], known: ModelLists) -> Any:
    """A description that names the image's size and echoes the prompt."""
    data = _decoded(body["image_data"])
    found = media.image_size(data)
    what = f"a {found[1][0]}x{found[1][1]} {found[0]} image" if found else f"an image of {len(data)} bytes"
    return {"content": f"Sandbox description of {what}, asked: {body['prompt']}"}


def chat(endpoint: Endpoint[Any], path: Mapping[str, str], body: Mapping[str, Any], known: ModelLists) -> Any:
    """An answer that names the model and character and echoes the prompt."""
    return {"message": f"{body['character']} ({path['model']}) in the sandbox: you said {body['prompt']!r}"}


def speech(endpoint: Endpoint[Any], path: Mapping[str, str], body: Mapping[str, Any], known: ModelLists) -> Any:
    """A WAV that `transcript` turns back into the same text."""
    return {"voice": _encoded(media.speech(body["text"]))}


def transcript(endpoint: Endpoint[Any], path: Mapping[str, str], body: Mapping[str, Any], known: ModelLists) -> Any:
    """The text of a sandbox WAV, or a description of any other audio."""
    data = _decoded(body["audio"])
    text = media.spoken_text(data)
    if text is None:
        seconds = media.wav_seconds(data)
        text = f"({seconds:.1f} s of audio)" if seconds is not None else f"(unrecognised audio, {len(data)} bytes)"
    return {"result": text}


RESPONDERS: dict[str, Responder] = {
    responder.__name__: responder
    for responder in (models, image, upscaled_image, cutout_image, text_image, caption, chat, speech, transcript)
}
