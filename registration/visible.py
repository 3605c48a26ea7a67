"""User text (object names, folders, problems quoting them) as a person should see it.

An object name may hold any character Cloud Storage accepts: a tab, an ESC that starts a
terminal control sequence, U+202E that shows "gpj.exe" as "exe.jpg", a zero-width space that
makes two names look equal. Shown raw, each one hides or forges what it stands for. So the
status page and the CLI write every character that str.isprintable() refuses (controls,
format characters such as bidi controls and zero-width ones, separators other than the
plain space, surrogates, noncharacters and unassigned code points) as ⟨U+XXXX⟩.
Machine formats (JSON, CSV, log lines, manifests) carry the exact name instead.
"""

from __future__ import annotations


def visible(text: str) -> str:
    """text with each non-printable character written as ⟨U+XXXX⟩ (printable text as is)."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else f"⟨U+{ord(char):04X}⟩" for char in text)
