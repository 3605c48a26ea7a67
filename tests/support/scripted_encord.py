"""An Encord gateway without a network: start answers the next scripted job id (or raises the
next scripted error), poll answers what the test put in `polls`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from registration.domain.submission import EncordJobResult


class ScriptedEncord:
    def __init__(self, *outcomes: str | Exception) -> None:
        self.outcomes = list(outcomes)
        self.started: list[str] = []
        self.polls: dict[str, EncordJobResult] = {}

    def start(self, manifest: Mapping[str, Any], file_name: str) -> str:
        self.started.append(file_name)
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def poll(self, job_id: str) -> EncordJobResult:
        return self.polls[job_id]
