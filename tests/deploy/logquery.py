"""A tiny evaluator for the part of the Cloud Logging query language monitoring.tf uses.

Supported: comparisons `PATH OP VALUE` with OP one of = != > >= < <= =~ (a regular
expression search), joined by AND, OR and NOT, with parentheses. VALUE is a quoted string,
a number, or a bare word (a severity such as ERROR). As in Cloud Logging:

- `severity` compares by level (DEBUG < INFO < NOTICE < WARNING < ERROR < ...);
- a comparison on a field that is missing or null is false;
- numbers compare as numbers, strings as strings.

Anything else (implicit AND, `:`, functions, wildcards) is refused, so a filter that strays
outside this subset fails the tests instead of being half understood.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

SEVERITIES = [
    "DEFAULT", "DEBUG", "INFO", "NOTICE", "WARNING", "ERROR", "CRITICAL", "ALERT", "EMERGENCY",
]  # fmt: skip

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<lparen>\() | (?P<rparen>\)) |
        (?P<op>=~|!=|>=|<=|=|>|<) |
        (?P<string>"(?:[^"\\]|\\.)*") |
        (?P<number>-?\d+(?:\.\d+)?(?![\w.])) |
        (?P<word>[A-Za-z_][\w.]*)
    )""",
    re.VERBOSE,
)


class QueryError(ValueError):
    """The filter is outside the supported subset."""


@dataclass(frozen=True)
class Token:
    kind: str
    text: str


def tokenize(query: str) -> list[Token]:
    tokens, position = [], 0
    while position < len(query.rstrip()):
        match = _TOKEN.match(query, position)
        if not match or match.end() == position:
            raise QueryError(f"cannot read {query[position:]!r}")
        kind = match.lastgroup
        assert kind is not None
        tokens.append(Token(kind, match.group(kind)))
        position = match.end()
    return tokens


@dataclass(frozen=True)
class Comparison:
    path: str
    op: str
    value: str | float

    def matches(self, entry: dict[str, Any]) -> bool:
        found: Any = entry
        for part in self.path.split("."):
            if not isinstance(found, dict) or part not in found:
                return False
            found = found[part]
        if found is None or isinstance(found, (dict, list)):
            return False
        if self.op == "=~":
            return isinstance(found, str) and re.search(str(self.value), found) is not None
        left: Any = found
        right: Any = self.value
        if self.path == "severity":
            left, right = SEVERITIES.index(str(found)), SEVERITIES.index(str(self.value))
        elif isinstance(right, float):
            if isinstance(left, bool) or not isinstance(left, (int, float)):
                return False
        elif isinstance(left, (int, float)):
            return False  # a number never equals a string in this subset
        outcome: bool = {
            "=": left == right,
            "!=": left != right,
            ">": left > right,
            ">=": left >= right,
            "<": left < right,
            "<=": left <= right,
        }[self.op]
        return outcome


@dataclass(frozen=True)
class Node:
    op: str  # AND, OR, NOT
    operands: tuple[Any, ...]

    def matches(self, entry: dict[str, Any]) -> bool:
        if self.op == "NOT":
            return not self.operands[0].matches(entry)
        results = (operand.matches(entry) for operand in self.operands)
        return all(results) if self.op == "AND" else any(results)


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.index = 0

    def peek(self) -> Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self, kind: str, text: str | None = None) -> Token:
        token = self.peek()
        if token is None or token.kind != kind or (text is not None and token.text != text):
            raise QueryError(f"expected {text or kind}, found {token.text if token else 'end'}")
        self.index += 1
        return token

    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token is not None and token.kind == "word" and token.text == word:
            self.index += 1
            return True
        return False

    def expression(self) -> Any:
        operands = [self.conjunction()]
        while self.keyword("OR"):
            operands.append(self.conjunction())
        return operands[0] if len(operands) == 1 else Node("OR", tuple(operands))

    def conjunction(self) -> Any:
        operands = [self.negation()]
        while self.keyword("AND"):
            operands.append(self.negation())
        return operands[0] if len(operands) == 1 else Node("AND", tuple(operands))

    def negation(self) -> Any:
        if self.keyword("NOT"):
            return Node("NOT", (self.negation(),))
        token = self.peek()
        if token is not None and token.kind == "lparen":
            self.index += 1
            inner = self.expression()
            self.take("rparen")
            return inner
        return self.comparison()

    def comparison(self) -> Comparison:
        path = self.take("word").text
        if path in ("AND", "OR", "NOT"):
            raise QueryError(f"{path} where a field was expected")
        op = self.take("op").text
        token = self.peek()
        if token is None:
            raise QueryError(f"{path}{op} has no value")
        self.index += 1
        if token.kind == "string":
            value: str | float = re.sub(r"\\(.)", r"\1", token.text[1:-1])
        elif token.kind == "number":
            value = float(token.text)
        elif token.kind == "word" and token.text in SEVERITIES:
            value = token.text
        else:
            raise QueryError(f"{path}{op}{token.text}: unsupported value")
        if path == "severity" and value not in SEVERITIES:
            raise QueryError(f"unknown severity {value}")
        if op == "=~" and not isinstance(value, str):
            raise QueryError("=~ takes a quoted regular expression")
        return Comparison(path, op, value)


def parse(query: str) -> Any:
    parser = _Parser(tokenize(query))
    tree = parser.expression()
    if parser.peek() is not None:
        raise QueryError(f"unexpected {parser.peek()}: join comparisons with AND or OR")
    return tree


def matches(query: str, entry: dict[str, Any]) -> bool:
    return bool(parse(query).matches(entry))


def log_entry(line: dict[str, Any], service_name: str) -> dict[str, Any]:
    """The LogEntry Cloud Logging makes of one JSON line a Cloud Run function printed.

    `severity` is lifted to LogEntry.severity and `time` to LogEntry.timestamp; every other
    field, `message` included, stays in jsonPayload. The resource is the function's revision.
    """
    payload = {key: value for key, value in line.items() if key not in ("severity", "time")}
    return {
        "severity": line.get("severity", "DEFAULT"),
        "timestamp": line.get("time"),
        "resource": {
            "type": "cloud_run_revision",
            "labels": {"service_name": service_name, "location": "europe-west1"},
        },
        "jsonPayload": payload,
    }
