"""Counts billed Firestore operations as they cross the wire (bench only, never deployed).

`install()` patches the Firestore client so that every gRPC channel it opens to the emulator
goes through `OpsInterceptor`, which reads each request and response and applies Firestore's
billing rules (https://cloud.google.com/firestore/pricing):

- reads: one per document returned by RunQuery or BatchGetDocuments (inside transactions
  too, and on every retry of an aborted transaction, since each attempt re-reads); a query
  that returns no document still bills one read; a BatchGetDocuments answer of `missing`
  is counted as one read (conservative); an aggregation (count()) bills one read per 1,000
  index entries, at least one;
- writes: one per `update` or `transform` Write in a successful Commit or BatchWrite
  (`create()`, `set()`, `update()`, including those with Increment or SERVER_TIMESTAMP
  transforms, which ride in the same Write and cost nothing extra);
- deletes: one per `delete` Write in a successful Commit;
- not billed: BeginTransaction, Rollback.

A Commit that fails (a `create()` that meets AlreadyExists, a transaction that aborts) applies
no write. It is counted apart as `failed_writes`, and the bench reports the cost per object
both without and with it, so the headline does not depend on how Google bills a refused
write: the headline includes it (the conservative reading).
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc  # type: ignore[import-untyped]

FIRESTORE_SERVICE = "/google.firestore.v1.Firestore/"
COUNTERS = (
    "reads",
    "writes",
    "deletes",
    "failed_writes",
    "rpcs",
    "commits",
    "failed_commits",
    "queries",
    "aggregations",
    "batch_gets",
    "transactions",
)


class OpsCounter:
    """Thread-safe totals, optionally mirrored to a JSON file after every change."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter({name: 0 for name in COUNTERS})
        self._by_method: Counter[str] = Counter()

    def add(self, method: str, **amounts: int) -> None:
        with self._lock:
            self._counts.update(amounts)
            self._counts["rpcs"] += 1
            self._by_method[method] += 1

    def add_rows(self, **amounts: int) -> None:
        with self._lock:
            self._counts.update(amounts)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            totals: dict[str, Any] = dict(self._counts)
            totals["by_method"] = dict(self._by_method)
            return totals

    def dump(self, path: str | os.PathLike[str]) -> None:
        """Write the totals atomically (readers never see half a file)."""
        target = Path(path)
        tmp = target.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        with self._lock:
            totals: dict[str, Any] = dict(self._counts)
            totals["by_method"] = dict(self._by_method)
            tmp.write_text(json.dumps(totals))
            os.replace(tmp, target)


COUNTER = OpsCounter()


def _pb(message: Any) -> Any:
    """The raw protobuf behind a proto-plus message (GAPIC passes proto-plus objects)."""
    pb = getattr(type(message), "pb", None)
    return pb(message) if pb is not None and hasattr(message, "_pb") else message


def _method_name(details: grpc.ClientCallDetails) -> str:
    method = details.method
    text = method.decode() if isinstance(method, bytes) else str(method)
    return text.removeprefix(FIRESTORE_SERVICE)


def _write_kinds(request: Any) -> tuple[int, int]:
    writes = deletes = 0
    for write in _pb(request).writes:
        kind = write.WhichOneof("operation")
        if kind in ("update", "transform"):
            writes += 1
        elif kind == "delete":
            deletes += 1
    return writes, deletes


class _CountingStream:
    """Wraps a response stream: counts as responses arrive, delegates everything else."""

    def __init__(self, call: Any, on_response: Callable[[Any], None], on_end: Callable[[], None]):
        self._call = call
        self._on_response = on_response
        self._on_end = on_end
        self._ended = False

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        try:
            response = next(self._call)
        except StopIteration:
            self._end()
            raise
        self._on_response(response)
        return response

    def _end(self) -> None:
        if not self._ended:
            self._ended = True
            self._on_end()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._call, name)


class OpsInterceptor(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):  # type: ignore[misc]
    def __init__(self, counter: OpsCounter) -> None:
        self.counter = counter

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        method = _method_name(details)
        outcome = continuation(details, request)
        failed = outcome.exception() is not None
        if method in ("Commit", "BatchWrite"):
            writes, deletes = _write_kinds(request)
            if failed:
                self.counter.add(
                    method, failed_writes=writes + deletes, commits=1, failed_commits=1
                )
            else:
                self.counter.add(method, writes=writes, deletes=deletes, commits=1)
        elif method == "BeginTransaction":
            self.counter.add(method, transactions=1)
        else:
            self.counter.add(method)
        return outcome

    def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        method = _method_name(details)
        call = continuation(details, request)
        if method == "RunQuery":
            state = {"documents": 0}

            def on_query_response(response: Any) -> None:
                if _pb(response).HasField("document"):
                    state["documents"] += 1
                    self.counter.add_rows(reads=1)

            def on_query_end() -> None:
                # Firestore bills one read for a query that returns nothing.
                if not state["documents"]:
                    self.counter.add_rows(reads=1)

            self.counter.add(method, queries=1)

            return _CountingStream(call, on_query_response, on_query_end)
        if method == "RunAggregationQuery":

            def on_aggregation(response: Any) -> None:
                pb = _pb(response)
                if not pb.HasField("result"):
                    return
                entries = sum(value.integer_value for value in pb.result.aggregate_fields.values())
                self.counter.add_rows(reads=max(1, math.ceil(entries / 1000)))

            self.counter.add(method, aggregations=1)
            return _CountingStream(call, on_aggregation, lambda: None)
        if method == "BatchGetDocuments":

            def on_document(response: Any) -> None:
                which = _pb(response).WhichOneof("result")
                if which in ("found", "missing"):
                    self.counter.add_rows(reads=1)

            self.counter.add(method, batch_gets=1)
            return _CountingStream(call, on_document, lambda: None)
        self.counter.add(method)
        return call


def install(counter: OpsCounter = COUNTER) -> None:
    """Route every Firestore client channel (emulator) through the counting interceptor.

    Must run before the first Firestore client opens its channel.
    """
    from google.cloud.firestore_v1.base_client import BaseClient

    original = BaseClient._emulator_channel
    if getattr(original, "_bench_counting", False):
        return

    def counting_channel(self: Any, transport: Any) -> Any:
        channel = original(self, transport)
        return grpc.intercept_channel(channel, OpsInterceptor(counter))

    counting_channel._bench_counting = True  # type: ignore[attr-defined]
    BaseClient._emulator_channel = counting_channel  # type: ignore[method-assign]
