"""What every ops use case shares: the ops-capable store, the lister, chunking, labels."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, Protocol, cast

from registration.domain import (
    BufferRef,
    ManifestKey,
    StorageObject,
)
from registration.ports import (
    BufferStore,
    ObjectLister,
    OpsStore,
)

if TYPE_CHECKING:
    from registration.service import RegistrationService


class OpsCapableStore(BufferStore, OpsStore, Protocol):
    """What the ops use cases need: the event path's store plus the ops methods."""


class OpsUnavailableError(RuntimeError):
    """The service's store or sink lacks the ops methods (e.g. the in-memory model)."""


def ops_store(service: RegistrationService) -> OpsCapableStore:
    if not isinstance(service.store, OpsStore):
        raise OpsUnavailableError(f"{type(service.store).__name__} has no ops methods")
    return cast(OpsCapableStore, service.store)


def lister(service: RegistrationService) -> ObjectLister:
    if not isinstance(service.sink, ObjectLister):
        raise OpsUnavailableError(f"{type(service.sink).__name__} cannot list objects")
    return service.sink


def buffer_label(buffer: BufferRef) -> str:
    """The 'buffer' field of every log line: bucket/folder:key (as service.py writes it)."""
    return f"{buffer.bucket}/{buffer.folder}:{buffer.key.value}"


def object_fields(obj: StorageObject) -> dict[str, Any]:
    return {"bucket": obj.bucket, "name": obj.name, "generation": obj.generation}


def chunks(items: Iterable[StorageObject], size: int) -> Iterator[list[StorageObject]]:
    chunk: list[StorageObject] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def is_grouped(key: ManifestKey) -> bool:
    from registration.service import GROUPED_KEYS

    return key in GROUPED_KEYS
