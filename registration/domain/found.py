"""What a read found: the documents it could parse, and those it skipped as unreadable.

One document written in an older layout, or damaged by hand, must never stop the sweep or
the status view for every other buffer. The adapters' parse functions skip such a document
and say so in a `Found` list; the use cases count and report what was skipped.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Unreadable:
    """A stored document that could not be parsed, and why (its path names it)."""

    path: str
    problem: str


class Found(list[T]):
    """A list of what was read, which also carries the documents skipped as unreadable.

    A plain list wherever the items are used, so a port that returns `list[T]` may return
    one; `unreadable_in` reads what was skipped from any result, Found or not.
    """

    def __init__(self, items: Iterable[T] = (), unreadable: Iterable[Unreadable] = ()) -> None:
        super().__init__(items)
        self.unreadable: tuple[Unreadable, ...] = tuple(unreadable)


def unreadable_in(*results: Sequence[object]) -> list[Unreadable]:
    """Every document the given results skipped, once each, in order."""
    seen: dict[str, Unreadable] = {}
    for result in results:
        if isinstance(result, Found):
            for item in result.unreadable:
                seen.setdefault(item.path, item)
    return list(seen.values())
