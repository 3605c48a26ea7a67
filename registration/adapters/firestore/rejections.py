"""Rejection records in Firestore, and the per-folder counts the sweep keeps of them."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from google.api_core.exceptions import AlreadyExists
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from registration.adapters.firestore.documents import (
    BUFFERS,
    FOLDERS,
    MALFORMED_EVENTS,
    OPS,
    REJECTION_RETENTION,
    REJECTION_SUMMARY_DOC,
    REJECTIONS,
    Documents,
    fields_of,
    rejection_fields,
    rejection_record,
)
from registration.domain.migration import SCHEMA_VERSION
from registration.domain.model import (
    RejectionCounts,
    RejectionReason,
    RejectionRecord,
    StorageObject,
    stable_id,
)

# Shards of one day's malformed-event counter; status reads at most this many per day.
MALFORMED_SHARDS = 4


class FirestoreRejections:
    """Implements services.ports.Rejections."""

    def __init__(self, documents: Documents) -> None:
        self._docs = documents

    def record(
        self, obj: StorageObject, reason: RejectionReason, detail: str, now: datetime
    ) -> bool:
        try:
            self._docs.rejection(obj, reason).create(rejection_fields(obj, reason, detail, now))
            return True
        except AlreadyExists:
            return False

    def record_many(
        self, items: Sequence[tuple[StorageObject, RejectionReason, str]], now: datetime
    ) -> list[bool]:
        """record() for many objects in batched commits; True where it is new."""
        docs = [
            (self._docs.rejection(obj, reason), rejection_fields(obj, reason, detail, now))
            for obj, reason, detail in items
        ]
        return self._docs.create_many(
            docs,
            created=True,
            settle_known=lambda _index, _snapshot: False,
            one_by_one=lambda index: self.record(*items[index], now),
        )

    def present(self, items: Sequence[tuple[StorageObject, RejectionReason]]) -> list[bool]:
        refs = [self._docs.rejection(obj, reason) for obj, reason in items]
        known = self._docs.existing(refs)
        return [ref.path in known for ref in refs]

    def recent(self, limit: int) -> list[RejectionRecord]:
        query = (
            self._docs.client.collection(REJECTIONS)
            .order_by("recorded_at", direction=firestore.Query.DESCENDING)
            .limit(limit)
        )
        return [rejection_record(fields_of(snapshot)) for snapshot in query.stream()]

    def of_folder(self, bucket: str, folder: str, limit: int) -> list[RejectionRecord]:
        query = (
            self._docs.client.collection(REJECTIONS)
            .where(filter=FieldFilter("bucket", "==", bucket))
            .where(filter=FieldFilter("folder", "==", folder))
            .order_by("recorded_at", direction=firestore.Query.DESCENDING)
            .limit(limit)
        )
        return [rejection_record(fields_of(snapshot)) for snapshot in query.stream()]

    def of_object(self, bucket: str, name: str) -> list[RejectionRecord]:
        query = (
            self._docs.client.collection(REJECTIONS)
            .where(filter=FieldFilter("bucket", "==", bucket))
            .where(filter=FieldFilter("name", "==", name))
        )
        records = [rejection_record(fields_of(snapshot)) for snapshot in query.stream()]
        return sorted(records, key=lambda record: record.recorded_at)

    def count_malformed_event(self, now: datetime) -> None:
        # A flood of malformed events must not contend on one document (about one write per
        # second each): a random shard of MALFORMED_SHARDS per day, summed when read.
        day = now.astimezone(UTC).date().isoformat()
        shard = random.randrange(MALFORMED_SHARDS)  # spreading load, not security
        self._docs.client.collection(MALFORMED_EVENTS).document(f"{day}-{shard}").set(
            {"day": day, "count": firestore.Increment(1), "last_at": now}, merge=True
        )

    def malformed_events_since(self, day: date) -> dict[date, int]:
        query = self._docs.client.collection(MALFORMED_EVENTS).where(
            filter=FieldFilter("day", ">=", day.isoformat())
        )
        counts: dict[date, int] = {}
        for snapshot in query.stream():
            fields = fields_of(snapshot)
            moment = date.fromisoformat(str(fields.get("day")))
            counts[moment] = counts.get(moment, 0) + int(fields.get("count") or 0)
        return counts


class FirestoreRejectionSummaries:
    """Implements services.ports.RejectionSummaries: per-folder counts, kept by the sweep."""

    def __init__(self, documents: Documents) -> None:
        self._docs = documents

    def _watermark_ref(self) -> Any:
        return self._docs.client.collection(OPS).document(REJECTION_SUMMARY_DOC)

    def watermark(self) -> datetime | None:
        snapshot = self._watermark_ref().get()
        moment: datetime | None = snapshot.get("watermark") if snapshot.exists else None
        return moment

    def save_watermark(self, moment: datetime) -> None:
        self._watermark_ref().set(
            {"watermark": moment, "updated_at": firestore.SERVER_TIMESTAMP}, merge=True
        )

    def reasons_recorded_since(
        self, moment: datetime | None
    ) -> dict[tuple[str, str], frozenset[str]]:
        """The reasons of the rejections recorded at or after moment (every rejection when
        moment is None, the first summary ever), by folder: 1 read per rejection found.
        New buffers are no reason to count: a folder without rejections costs nothing."""
        query: Any = self._docs.client.collection(REJECTIONS)
        if moment is not None:
            query = query.where(filter=FieldFilter("recorded_at", ">=", moment))
        found: dict[tuple[str, str], set[str]] = {}
        for snapshot in query.select(["bucket", "folder", "reason"]).stream():
            fields = fields_of(snapshot)
            key = (fields["bucket"], fields.get("folder") or "")
            found.setdefault(key, set()).add(str(fields["reason"]))
        return {key: frozenset(reasons) for key, reasons in found.items()}

    def folders_due_recount(self, moment: datetime) -> set[tuple[str, str]]:
        """Folders whose oldest counted rejection has expired by moment (the TTL policy
        removes it, so the count must drop): a cost that follows expiries, not folders."""
        query = self._docs.client.collection(FOLDERS).where(
            filter=FieldFilter("recount_at", "<=", moment)
        )
        return {
            (fields["bucket"], fields["folder"])
            for fields in (fields_of(snapshot) for snapshot in query.stream())
        }

    def count_folder(self, bucket: str, folder: str, reasons: Sequence[str]) -> dict[str, int]:
        """The folder's rejections of these reasons (those with none are left out).

        One count() per reason asked, and the summary asks only for the reasons that may
        have changed: exact, billed one read per 1,000 matching records (at least one), with
        no counter document for events to contend on."""
        base: Any = (
            self._docs.client.collection(REJECTIONS)
            .where(filter=FieldFilter("bucket", "==", bucket))
            .where(filter=FieldFilter("folder", "==", folder))
        )
        counts: dict[str, int] = {}
        for reason in reasons:
            query = base.where(filter=FieldFilter("reason", "==", reason))
            number = int(query.count(alias="n").get()[0][0].value)
            if number:
                counts[reason] = number
        return counts

    def _oldest_expiry(self, bucket: str, folder: str) -> datetime | None:
        query = (
            self._docs.client.collection(REJECTIONS)
            .where(filter=FieldFilter("bucket", "==", bucket))
            .where(filter=FieldFilter("folder", "==", folder))
            .order_by("recorded_at")
            .limit(1)
        )
        docs = list(query.stream())
        return docs[0].get("recorded_at") + REJECTION_RETENTION if docs else None

    def save_counts(self, bucket: str, folder: str, counts: dict[str, int], now: datetime) -> None:
        """The folder's summary, copied into each of its buffers so one read gives all."""
        client = self._docs.client
        total = sum(counts.values())
        recount_at = self._oldest_expiry(bucket, folder) if total else None
        batch = client.batch()
        batch.set(
            client.collection(FOLDERS).document(stable_id(bucket, folder)),
            {
                "bucket": bucket,
                "folder": folder,
                "rejected": counts,
                "rejected_total": total,
                "counted_at": now,
                "recount_at": recount_at,
                "schema": SCHEMA_VERSION,
            },
        )
        buffers = (
            client.collection(BUFFERS)
            .where(filter=FieldFilter("bucket", "==", bucket))
            .where(filter=FieldFilter("folder", "==", folder))
        )
        for snapshot in buffers.select(["bucket"]).stream():
            batch.update(
                snapshot.reference,
                {"rejected": counts, "rejected_total": total, "rejected_counted_at": now},
            )
        batch.commit()

    def counts_of(self, folders: Sequence[tuple[str, str]]) -> list[RejectionCounts]:
        """The counted summaries of these folders (those never counted are left out)."""
        collection = self._docs.client.collection(FOLDERS)
        refs = [collection.document(stable_id(bucket, folder)) for bucket, folder in folders]
        return [_counts(fields_of(snapshot)) for snapshot in self._docs.existing(refs).values()]

    def totals_by_reason(self) -> dict[str, int]:
        """Rejected objects by reason over the whole database: one count() per reason,
        billed one read per 1,000 records."""
        totals: dict[str, int] = {}
        for reason in RejectionReason:
            query: Any = self._docs.client.collection(REJECTIONS).where(
                filter=FieldFilter("reason", "==", reason.value)
            )
            number = int(query.count(alias="n").get()[0][0].value)
            if number:
                totals[reason.value] = number
        return totals


def _counts(fields: dict[str, Any]) -> RejectionCounts:
    return RejectionCounts(
        bucket=fields["bucket"],
        folder=fields["folder"],
        counts={str(k): int(v) for k, v in (fields.get("rejected") or {}).items()},
        counted_at=fields.get("counted_at"),
    )
