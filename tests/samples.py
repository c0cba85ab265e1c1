"""Small media inputs for tests, made the way the sandbox makes its answers."""

from __future__ import annotations

from kellyapi.sandbox import media

PNG = media.png(64, 48, "sample")
WAV = media.speech("the quick brown fox")
png_size = media.png_size
