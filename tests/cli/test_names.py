"""Result files are named after their prompt in whatever script it is written, and nothing unsafe gets through."""

from __future__ import annotations

import pytest

from kellyapi.cli.files import slug


@pytest.mark.parametrize(
    ("text", "stem"),
    [
        ("A lighthouse, at dawn!", "a-lighthouse-at-dawn"),
        ("Café au lait", "café-au-lait"),
        ("déjà vu", "déjà-vu"),
        ("日本の猫", "日本の猫"),
        ("Кошка на крыше", "кошка-на-крыше"),
        ("../../etc/passwd", "etc-passwd"),
        ("a\x00b\nc/d\\e:f", "a-b-c-d-e-f"),
        ("...", ""),
        ("snake_case words", "snake-case-words"),
    ],
)
def test_a_slug_keeps_every_script_s_letters_and_only_those(text: str, stem: str) -> None:
    assert slug(text) == stem


def test_a_decomposed_accent_is_kept_composed() -> None:
    assert slug("cafe\u0301") == "café"
