"""Where the CLI's output goes: results to stdout, JSON log lines to stderr or a file.

A command's result (tables, or JSON with --json) goes to stdout; the structured JSON log
lines go to stderr, or to --log-file. On a terminal, stderr shows only warnings and errors
(plus the progress bar), because thousands of INFO lines would bury it; piped or
redirected, it gets every line, so `2>backfill.log` keeps the full trace.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from registration.visible import visible

QUIET_SEVERITIES = frozenset({"DEFAULT", "DEBUG", "INFO", "NOTICE"})


@dataclass
class CliState:
    log_file: str | None


@dataclass
class Io:
    out: Console
    err: Console
    raw_out: TextIO


class SafeConsole(Console):
    """A console that shows user text's invisible characters instead of obeying them.

    Rich turns every string it prints, table cells included, into Text through render_str,
    and passes an ESC or a U+202E in an object name on to the terminal as it is: a name could
    clear the screen or reverse what follows it. Here they become ⟨U+001B⟩ first
    (registration/visible.py); --json output keeps the exact names.
    """

    def render_str(self, text: str, **kwargs: Any) -> Text:
        return super().render_str(visible(text), **kwargs)


def streams() -> Io:
    # Bound now, before logs are redirected: results must reach the real stdout.
    out_stream = sys.stdout
    return Io(
        SafeConsole(file=out_stream, highlight=False, soft_wrap=True),
        SafeConsole(file=sys.stderr, highlight=False),
        out_stream,
    )


def json_out(io_: Io, data: Any) -> None:
    print(json.dumps(data, default=str, ensure_ascii=False, indent=2), file=io_.raw_out)


class _LogLines(io.TextIOBase):
    """Receives the JSON log lines (logs.py writes to sys.stdout) and routes them."""

    def __init__(self, emit: Callable[[str], None], keep: Callable[[str], bool]) -> None:
        super().__init__()
        self._emit = emit
        self._keep = keep
        self._partial = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._partial += text
        *lines, self._partial = self._partial.split("\n")
        for line in lines:
            if line and self._keep(line):
                self._emit(line)
        return len(text)


def is_loud(line: str) -> bool:
    try:
        severity = json.loads(line).get("severity", "DEFAULT")
    except (ValueError, AttributeError):
        return True
    return severity not in QUIET_SEVERITIES


@contextlib.contextmanager
def routed_logs(state: CliState, console: Console) -> Iterator[None]:
    with contextlib.ExitStack() as stack:
        if state.log_file:
            file: IO[str] = stack.enter_context(open(state.log_file, "a", encoding="utf-8"))
            router = _LogLines(lambda line: print(line, file=file, flush=True), lambda _: True)
        elif console.is_terminal:
            # Through the console, so a warning prints above a live progress bar.
            router = _LogLines(
                lambda line: console.print(line, markup=False, highlight=False, soft_wrap=True),
                is_loud,
            )
        else:
            stream = console.file
            router = _LogLines(lambda line: print(line, file=stream, flush=True), lambda _: True)
        stack.enter_context(contextlib.redirect_stdout(router))
        yield


def progress_bar(label: str, console: Console, *columns: ProgressColumn | str) -> Progress:
    """The one progress bar of every command: a spinner, `label`, a bar, then `columns`.

    Shown only on a terminal. Log lines reach the console through routed_logs, which
    filters them first, so the bar redirects nothing itself.
    """
    return Progress(
        SpinnerColumn(),
        TextColumn(f"[bold]{label}[/] {{task.description}}"),
        BarColumn(),
        *columns,
        TimeElapsedColumn(),
        console=console,
        disable=not console.is_terminal,
        redirect_stdout=False,
        redirect_stderr=False,
    )
