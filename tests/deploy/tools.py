"""Shared helpers of the deployment tests: paths, external tools and the parsed Terraform."""

from __future__ import annotations

import os
import re
import shutil
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
import pytest
from hcl2 import SerializationOptions

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
TERRAFORM = DEPLOY / "terraform"
DEPLOY_SCRIPT = DEPLOY / "deploy.sh"
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"


def require_tool(name: str, how_to_install: str, path: Path | None = None) -> str:
    """The tool's path. Missing: a failure in CI (CI=true), a skip on a developer's machine."""
    found = str(path) if path is not None and path.exists() else shutil.which(name)
    if found:
        return found
    message = f"{name} is not installed; {how_to_install}"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


Block = dict[str, Any]


class Terraform:
    """Every .tf file of deploy/terraform, merged: resources, data sources, variables, locals.

    Values are as written: strings without their quotes, references as "${...}".
    """

    def __init__(self, folder: Path) -> None:
        self.resources: dict[tuple[str, str], Block] = {}
        self.data: dict[tuple[str, str], Block] = {}
        self.variables: dict[str, Block] = {}
        self.locals: Block = {}
        options = SerializationOptions(
            strip_string_quotes=True, explicit_blocks=False, with_comments=False
        )
        for path in sorted(folder.glob("*.tf")):
            with path.open() as handle:
                parsed = hcl2.load(handle, serialization_options=options)
            for kind, target in (("resource", self.resources), ("data", self.data)):
                for entry in parsed.get(kind, []):
                    for type_, named in entry.items():
                        for name, body in named.items():
                            target[(type_, name)] = body
            for entry in parsed.get("variable", []):
                self.variables.update(entry)
            for entry in parsed.get("locals", []):
                self.locals.update(entry)

    def resource(self, type_: str, name: str) -> Block:
        return self.resources[(type_, name)]

    def of_type(self, type_: str) -> dict[str, Block]:
        return {name: body for (kind, name), body in self.resources.items() if kind == type_}

    def default(self, variable: str) -> Any:
        return self.variables[variable].get("default")


def single(blocks: list[Block]) -> Block:
    """The one block of a nested block list (event_trigger, service_config, ...)."""
    assert len(blocks) == 1, blocks
    return blocks[0]


@cache
def terraform() -> Terraform:
    return Terraform(TERRAFORM)


# Settings the public contract names (SPEC section 1: the Encord submission; issue 11: record
# retention) that registration/config.py on this branch may not read yet. Deploying them
# ahead of the code is harmless: the settings ignore variables they do not know.
UPCOMING_SETTINGS = frozenset(
    {
        "REGISTRATION_ENCORD_FOLDER",
        "REGISTRATION_ENCORD_DATASET",
        "REGISTRATION_ENCORD_INTEGRATION",
        "REGISTRATION_ENCORD_DOMAIN",
        "REGISTRATION_ENCORD_IGNORE_ERRORS",
        "REGISTRATION_RECORD_RETENTION_DAYS",
    }
)

_REFERENCE = re.compile(r"\$\{(local|var)\.(\w+)\}")
_ARITHMETIC = re.compile(r"\$\{(local|var)\.(\w+) ([+*]) (\d+)\}")


def resolve(value: Any, tf: Terraform | None = None) -> Any:
    """A value as Terraform would compute it with every variable at its default.

    Enough for what the tests read: literals, "${local.X}", "${var.X}", "${local.X + N}",
    "${var.X * N}", and strings with such references inside.
    """
    tf = tf or terraform()

    def lookup(kind: str, name: str) -> Any:
        return resolve(tf.locals[name] if kind == "local" else tf.default(name), tf)

    if not isinstance(value, str):
        return value
    arithmetic = _ARITHMETIC.fullmatch(value)
    if arithmetic:
        kind, name, operator, number = arithmetic.groups()
        base = lookup(kind, name)
        return base + int(number) if operator == "+" else base * int(number)
    whole = _REFERENCE.fullmatch(value)
    if whole:
        return lookup(*whole.groups())
    return _REFERENCE.sub(lambda match: str(lookup(*match.groups())), value)
