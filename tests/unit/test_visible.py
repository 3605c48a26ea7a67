"""User text shown to a person: invisible characters made visible, printable text untouched."""

from __future__ import annotations

import io

import pytest
from hypothesis import given

from registration.cli.output import SafeConsole
from registration.visible import visible
from tests.support.legal_names import NAME_CASES, NameCase, legal_names


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("cam 1/frame_0001.jpg", "cam 1/frame_0001.jpg"),
        ("a\tb", "a⟨U+0009⟩b"),
        ("\x1b[2Jx", "⟨U+001B⟩[2Jx"),
        ("invoice\u202egpj.exe", "invoice⟨U+202E⟩gpj.exe"),
        ("a\u200bb", "a⟨U+200B⟩b"),
        ("\x85\x7f\x00", "⟨U+0085⟩⟨U+007F⟩⟨U+0000⟩"),
        ("\ufffe", "⟨U+FFFE⟩"),
        ("e\u0301 漢 \U0001f600", "e\u0301 漢 \U0001f600"),
    ],
)
def test_each_invisible_character_is_written_as_its_code_point(text: str, shown: str) -> None:
    assert visible(text) == shown


@given(name=legal_names())
def test_what_is_shown_is_printable_and_unchanged_where_the_name_was(name: str) -> None:
    shown = visible(name)
    assert shown.isprintable()
    if name.isprintable():
        assert shown == name


@pytest.mark.parametrize("case", NAME_CASES, ids=lambda case: case.ident)
def test_the_cli_console_never_sends_a_names_control_characters_to_the_terminal(
    case: NameCase,
) -> None:
    stream = io.StringIO()
    console = SafeConsole(file=stream, force_terminal=True, highlight=False, width=5000)
    console.print(f"gs://bkt/{case.name}", markup=False)
    console.print(f"gs://bkt/{case.name}\x1b[2J", markup=False)
    written = stream.getvalue()
    # Only rich's own styling escapes (none here) and the final newlines remain.
    assert "\x1b[2J" not in written
    assert all(char.isprintable() or char == "\n" for char in written)
    assert visible(case.name) in written
