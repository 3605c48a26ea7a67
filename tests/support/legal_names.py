"""Object names Cloud Storage accepts, by character class, each with the fate it must meet.

Cloud Storage's naming rules (cloud.google.com/storage/docs/naming-objects) are the contract:
any valid Unicode, 1 to 1,024 bytes of UTF-8, no CR or LF, not "." or "..", not under
.well-known/acme-challenge/. Everything else is legal, however odd, and must end either in a
manifest or in a rejection record with its reason. Encord's only name limits are 300
characters of file name and 16 KB of URL (registration/domain/limits.py).

Shared by the unit table, the end-to-end table, the property test and the stress suite.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass

from hypothesis import strategies as st

from registration.domain.limits import MAX_OBJECT_NAME_BYTES, MAX_TITLE_CHARS

REGISTERED = "registered"


@dataclass(frozen=True)
class NameCase:
    """One character class: a name built around it and its expected fate."""

    ident: str
    name: str
    # REGISTERED, or the RejectionReason value it must be rejected with.
    fate: str


def _c0_without_line_breaks() -> str:
    return "".join(chr(code) for code in range(0x20) if chr(code) not in "\r\n")


def _name_of_exactly(total_bytes: int, folder: str, file_name_stem: str) -> str:
    """folder/<stem padded with 'x'>.jpg, exactly total_bytes of UTF-8."""
    head = f"{folder}/{file_name_stem}"
    padding = total_bytes - len(head.encode()) - len(".jpg")
    assert padding >= 0
    return head + "x" * padding + ".jpg"


# The emoji file name keeps the 1,024-byte name's file name under Encord's 300 characters:
# 95 four-byte code points are 380 bytes but 95 characters.
_EMOJI_STEM = "\U0001f600" * 95

NAME_CASES: tuple[NameCase, ...] = (
    NameCase("c0-controls", "legal/c0/a" + _c0_without_line_breaks() + "b.jpg", REGISTERED),
    NameCase("nul-alone", "legal/nul/\x00.jpg", REGISTERED),
    NameCase("tab-leading", "legal/tab/\tleading tab.jpg", REGISTERED),
    NameCase("tab-in-folder", "legal/tab\tfolder/x.jpg", REGISTERED),
    NameCase("del", "legal/del/a\x7fb.jpg", REGISTERED),
    NameCase(
        "c1-controls", "legal/c1/" + "".join(map(chr, range(0x80, 0xA0))) + "x.jpg", REGISTERED
    ),
    NameCase("nonchars-fffe-ffff", "legal/nonchar/a\ufffeb\uffffc.jpg", REGISTERED),
    NameCase(
        "bidi-controls",
        "legal/bidi/" + "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069gpj.jpg",
        REGISTERED,
    ),
    NameCase("zero-width", "legal/zw/a\u200bb\u200cc\u200dd\ufeffe\u2060f.jpg", REGISTERED),
    NameCase("combining-marks", "legal/comb/e\u0301a\u0308o\u0302\u0323\u20dd.jpg", REGISTERED),
    NameCase("emoji-4-byte", "legal/emoji/\U0001f600\U0001f9d1\u200d\U0001f52c.jpg", REGISTERED),
    NameCase("xml-unfriendly", "legal/xml/<a>&'\"]]>.jpg", REGISTERED),
    NameCase("url-reserved", "legal/url/1+(32) #?%20;=@$,!*[].jpg", REGISTERED),
    NameCase("empty-segments", "legal//empty//x.jpg", REGISTERED),
    NameCase(
        "exactly-1024-bytes",
        _name_of_exactly(MAX_OBJECT_NAME_BYTES, "legal/long-" + "d" * 620, _EMOJI_STEM),
        REGISTERED,
    ),
    NameCase(
        "file-name-of-300-characters",
        "legal/300/" + "\u00e9" * (MAX_TITLE_CHARS - 4) + ".jpg",
        REGISTERED,
    ),
    NameCase(
        "file-name-of-301-characters",
        "legal/301/" + "\u00e9" * (MAX_TITLE_CHARS - 3) + ".jpg",
        "name_too_long",
    ),
    NameCase(
        "exactly-1024-bytes-in-the-file-name",
        _name_of_exactly(MAX_OBJECT_NAME_BYTES, "legal", "f"),
        "name_too_long",
    ),
    NameCase("dot-segment", "legal/dots/../x.jpg", "hidden_file"),
    NameCase("control-only-extension", "legal/ext/a.jp\tg", "unknown_type"),
    NameCase("folder-placeholder-with-tab", "legal/ph\t/", "folder_placeholder"),
)

# Cloud Storage's legal alphabet: every code point but CR, LF and the surrogates (which are
# not Unicode scalar values, so no UTF-8 name can hold them).
legal_characters = st.characters(codec="utf-8", exclude_characters="\r\n")
_awkward = st.sampled_from(
    [
        "\t",
        "\x00",
        "\x1b",
        "\x7f",
        "\x85",
        "\u200b",
        "\u202e",
        "\ufeff",
        "\ufffe",
        "\uffff",
        "\u0301",
        "\U0001f600",
        "%",
        "#",
        "?",
        "+",
        " ",
    ]
)
_segment_characters = st.characters(codec="utf-8", exclude_characters="\r\n/")
_segment_text = st.text(st.one_of(_segment_characters, _awkward), min_size=1, max_size=12)
# Segments that cannot start with '.', so that the name is a registrable image: the legal
# alphabet otherwise, tabs, controls and bidi characters included.
_visible_start = st.sampled_from(string.ascii_letters + "\t\x01\x7f\u200b\u202e\U0001f600é")
_segment = st.builds(lambda head, tail: head + tail, _visible_start, _segment_text)


@st.composite
def legal_image_names(draw: st.DrawFn) -> str:
    """An image name Cloud Storage accepts and Encord can take: 1-3 folders of the legal
    alphabet, a file name under 300 characters, ending in .jpg."""
    folders = draw(st.lists(_segment, min_size=0, max_size=3))
    stem = draw(_segment)
    name = "/".join([*folders, stem + ".jpg"])
    if len(name.encode()) > MAX_OBJECT_NAME_BYTES:
        name = stem[:50] + ".jpg"
    return name


@st.composite
def legal_names(draw: st.DrawFn) -> str:
    """Any name Cloud Storage accepts (registrable or not): the legal alphabet, 1-1,024 bytes."""
    name = draw(st.text(legal_characters, min_size=1, max_size=60))
    if name in (".", "..") or name.startswith(".well-known/acme-challenge/"):
        name = "n" + name
    return name


# One or more characters of each class the table covers, for names drawn without hypothesis.
AWKWARD_CHARACTERS = (
    _c0_without_line_breaks()
    + "\x7f"
    + "".join(map(chr, range(0x80, 0xA0)))
    + "\ufffe\uffff\u200e\u202e\u2066\u2069\u200b\u200d\ufeff\u0301\u20dd"
    + "\U0001f600\U0001f9d1 #?%+&<>'\"é漢"
)


def awkward_file_stem(rng: random.Random, length: int = 6) -> str:
    """A registrable file-name stem of awkward legal characters (it starts with a letter, so
    it is never hidden)."""
    return "i" + "".join(rng.choice(AWKWARD_CHARACTERS) for _ in range(length))
