"""The two pages: an image studio (a sync view, SyncKellyAPI) and a chat (an async view, KellyAPI)."""

import base64
import logging
import math

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from kellyapi import errors
from studio.kelly import async_api, sync_api

logger = logging.getLogger(__name__)

# What a visitor sees for each SDK error, and the status the page is served with.
_FAILURES: tuple[tuple[type[errors.BaseError], int, str], ...] = (
    (errors.InvalidRequest, 400, "That request cannot be sent: {error}"),
    (errors.RateLimitError, 503, "The image service is busy. Please try again in a moment."),
    (errors.TimeoutError, 504, "The image service took too long to answer. Please try again."),
    (errors.InvalidApiKey, 500, "The site is not configured correctly."),
    (errors.BaseError, 502, "The image service failed. Please try again later."),
)


def _failure_page(
    request: HttpRequest, template: str, context: dict[str, object], error: errors.BaseError
) -> HttpResponse:
    status, message = next((status, text) for kind, status, text in _FAILURES if isinstance(error, kind))
    logger.warning("Kelly API call failed: %s: %s", type(error).__name__, error)
    response = render(request, template, {**context, "error": message.format(error=error)}, status=status)
    if isinstance(error, errors.RateLimitError) and error.retry_after is not None:
        # Tell the browser (and any proxy) when to come back, as the API told us.
        response["Retry-After"] = str(math.ceil(error.retry_after))
    return response


def image(request: HttpRequest) -> HttpResponse:
    """Type a prompt, see the generated image (GET, so a prompt's page can be bookmarked)."""
    prompt = request.GET.get("prompt", "").strip()
    context: dict[str, object] = {"prompt": prompt, "size": settings.KELLY_IMAGE_SIZE}
    if prompt:
        size = settings.KELLY_IMAGE_SIZE
        try:
            png = sync_api.generate(prompt, width=size, height=size)
        except errors.BaseError as error:
            return _failure_page(request, "studio/image.html", context, error)
        context["image"] = base64.b64encode(png).decode("ascii")
    return render(request, "studio/image.html", context)


async def chat(request: HttpRequest) -> HttpResponse:
    """Ask the chat model a question (POST), see its answer."""
    context: dict[str, object] = {}
    if request.method == "POST":
        prompt = request.POST.get("prompt", "").strip()
        context["prompt"] = prompt
        if not prompt:  # the page's own rule: an empty question is not worth a paid call
            context["error"] = "Please type a question."
            return render(request, "studio/chat.html", context, status=400)
        try:
            context["answer"] = await async_api.llm(prompt)
        except errors.BaseError as error:
            return _failure_page(request, "studio/chat.html", context, error)
    return render(request, "studio/chat.html", context)
