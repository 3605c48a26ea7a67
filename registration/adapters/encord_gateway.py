"""Encord, through its SDK: start one upload job per manifest, then poll it. The only module
that imports `encord`.

Facts of encord 0.1.211 this module is built around (read from its source):

- `RequestsSettings` is per client; every request reads its timeouts from the client's
  config (`user_config.config`) when it is sent. So each call here sets them to what is left
  of its deadline: min(the request timeout, the invocation's budget left).
- The plain policy: no urllib3 retries at all (`max_retries=0`, `connection_retries=0`), so
  nothing sleeps between tries and no `Retry-After` is slept inside a call (urllib3 sleeps it
  only before a retry). A 429 surfaces at once as `EncordRateLimitedError(retry_after)`, and
  the caller sets the next attempt from it.
- The SDK's polling loops (`add_private_data_to_*_get_result`) retry a failed request 3 times
  with 10 s sleeps, whatever the settings: a hung Encord made one poll take 32 s at a 2 s
  timeout. Polls here send the loop's one request themselves, through the SDK's own signed
  clients (`ApiClient` for folders, `Querier` for legacy datasets): one request, one answer.
- The start call is sent with no retry on a read error or an HTTP status, so a start whose
  answer is lost surfaces as `EncordUnavailableError(job_may_exist=True)` after its timeout.
- A dict manifest is sent without a file name; a `Path` is read back and sends its name. So
  `start` writes the manifest to a temporary file named `file_name` and passes that path.
- The SDK only loads OpenSSH-format Ed25519 keys, and its error for a wrong key quotes the key.
  PKCS#8 PEM keys are converted here, and key errors never repeat the SDK's message.

One invocation (a storage event, a sweep) takes a `session`: its calls share one budget, and
after the first timeout, 5xx, lost connection or 429 the rest of its calls are deferred
(`EncordDeferredError`, transient) instead of each waiting out its own timeout.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

import encord.exceptions as sdk_errors
import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)
from encord.constants.string_constants import TYPE_DATASET
from encord.dataset import Dataset
from encord.http.constants import RequestsSettings
from encord.http.querier import Querier
from encord.http.v2.api_client import ApiClient
from encord.orm.dataset import DataLinkDuplicatesBehavior, DatasetDataLongPolling
from encord.orm.storage import GetUploadJobParams, UploadLongPollingState
from encord.storage import StorageFolder
from encord.user_client import EncordUserClient
from urllib3.exceptions import NewConnectionError

from registration import logs
from registration.domain.encord_items import EncordItem, JobItems, LinkOutcome
from registration.domain.submission import (
    EncordJobResult,
    EncordUnitError,
    JobStatus,
)
from registration.exceptions import (
    ConfigurationError,
    EncordDeferredError,
    EncordJobMissingError,
    EncordRateLimitedError,
    EncordRefusedError,
    EncordUnavailableError,
    RegistrationError,
)

DEFAULT_DOMAIN = "https://api.encord.com"
# A call with less than this left of its invocation's budget is deferred rather than sent
# with a timeout too short to be answered.
MIN_CALL_SECONDS = 1.0

# Errors retrying cannot fix: the key, access rights, a missing target or job, the request itself.
_REFUSALS: tuple[type[Exception], ...] = (
    sdk_errors.AuthenticationError,
    sdk_errors.AuthorisationError,
    sdk_errors.ResourceNotFoundError,
    sdk_errors.PayloadTooLargeError,
    sdk_errors.InvalidArgumentsError,
    sdk_errors.MethodNotAllowedError,
    sdk_errors.OperationNotAllowed,
    sdk_errors.SshKeyNotFound,
    sdk_errors.DuplicateSshKeyError,
    sdk_errors.UploadOperationNotSupportedError,
    sdk_errors.FileTypeNotSupportedError,
    sdk_errors.FileSizeNotSupportedError,
)


@dataclass(frozen=True)
class _JobState:
    """One answer about an upload job, from either target: its status (the SDK parses it
    into LongPollingStatus, whose values are exactly JobStatus), its unit counts, its unit
    errors and the items it created."""

    status: JobStatus
    counts: Any  # UploadLongPollingState or DatasetDataLongPolling: the same count fields
    errors: tuple[Any, ...]
    items: tuple[EncordItem, ...]


class EncordGateway:
    """Registers manifests into one Encord storage folder or one legacy dataset.

    Exactly one of `folder` (a storage folder UUID) and `dataset` (a legacy dataset hash) is
    set. `integration` is the cloud integration's UUID or its title; a title is looked up once,
    on first use, and must match exactly one integration. `ssh_private_key` is an Ed25519 key
    (OpenSSH or PKCS#8 PEM); None reads `ENCORD_SSH_KEY` (or the SDK's `ENCORD_SSH_KEY_FILE`).
    Creating a gateway makes no network call; `check()` resolves everything up front.

    `start` and `poll` called on the gateway itself are bounded by `request_timeout_seconds`
    alone (the CLI's use); an invocation calls them through `session(...)`.
    """

    def __init__(
        self,
        *,
        integration: str,
        folder: str | None = None,
        dataset: str | None = None,
        ssh_private_key: str | None = None,
        domain: str = DEFAULT_DOMAIN,
        ignore_errors: bool = True,
        request_timeout_seconds: float = 30,
        poll_wait_seconds: int = 0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if bool(folder) == bool(dataset):
            raise ConfigurationError(
                "REGISTRATION_ENCORD_FOLDER",
                "set exactly one of it and REGISTRATION_ENCORD_DATASET",
            )
        if folder:
            try:
                folder = str(uuid.UUID(folder))
            except ValueError:
                raise ConfigurationError("REGISTRATION_ENCORD_FOLDER", "not a UUID") from None
        if not integration.strip():
            raise ConfigurationError("REGISTRATION_ENCORD_INTEGRATION", "required")
        if request_timeout_seconds <= 0 or not 0 <= poll_wait_seconds < request_timeout_seconds:
            raise ValueError("need 0 <= poll_wait_seconds < request_timeout_seconds")
        self._folder_uuid = folder
        self._dataset_hash = dataset
        self._integration_ref = integration.strip()
        self._ignore_errors = ignore_errors
        self._poll_wait_seconds = poll_wait_seconds
        self._timeout = float(request_timeout_seconds)
        self._monotonic = monotonic
        self._client = _create_client(ssh_private_key, domain, self._timeout)
        # Every request the SDK sends reads its timeouts from this config object when it is
        # sent; a call sets them to its own deadline while it holds the lock.
        self._config = self._client.user_config.config
        self._api = ApiClient(self._config)
        self._dataset_querier = (
            Querier(self._config, resource_type=TYPE_DATASET, resource_id=dataset)
            if dataset
            else None
        )
        # One Encord call at a time per instance: the timeouts live on the shared config.
        # The deployed functions serve one request per instance, so it never waits there.
        self._lock = threading.RLock()
        self._integration_id: str | None = None
        self._folder: StorageFolder | None = None
        self._dataset: Dataset | None = None

    @property
    def target(self) -> str:
        """'folder <uuid>' or 'dataset <hash>', as error messages name it."""
        if self._folder_uuid:
            return f"folder {self._folder_uuid}"
        return f"dataset {self._dataset_hash}"

    @property
    def request_timeout_seconds(self) -> float:
        return self._timeout

    def session(self, budget_seconds: float | None = None) -> EncordSession:
        """The calls of one invocation: bounded by `budget_seconds` from now (None: each
        call by the request timeout alone), deferred after Encord's first failure."""
        return EncordSession(self, budget_seconds, self._monotonic)

    def check(self) -> None:
        """Resolve the integration and fetch the target now, so bad settings fail at start-up."""
        subject = f"{self.target} with integration {self._integration_ref!r}"
        deadline = self._monotonic() + self._timeout
        with self._lock:
            self._resolve_integration(subject, deadline)
            self._resolve_target(subject, deadline)

    def start(self, manifest: Mapping[str, Any], file_name: str) -> str:
        """Submit one manifest as one upload job; returns the job id.

        Raises EncordRateLimitedError (nothing created), EncordUnavailableError (check
        `job_may_exist`) or EncordRefusedError (never retry as is).
        """
        return self.start_until(manifest, file_name, self._monotonic() + self._timeout)

    def poll(self, job_id: str) -> EncordJobResult:
        """One short look at a job (never the SDK's 7-day long poll, nor its retry loop)."""
        return self.poll_until(job_id, self._monotonic() + self._timeout)

    def start_until(self, manifest: Mapping[str, Any], file_name: str, deadline: float) -> str:
        """`start`, with every request it sends answered by `deadline` (monotonic seconds)."""
        subject = f"manifest {file_name} for {self.target}"
        with self._lock:
            integration_id = self._resolve_integration(subject, deadline)
            target = self._resolve_target(subject, deadline)
            with tempfile.TemporaryDirectory(prefix="encord-manifest-") as tmp:
                path = Path(tmp) / (PurePosixPath(file_name).name or "manifest.json")
                path.write_text(json.dumps(manifest), encoding="utf-8")
                self._bound(subject, deadline)
                job: uuid.UUID | str
                try:
                    if isinstance(target, StorageFolder):
                        job = target.add_private_data_to_folder_start(
                            integration_id, path, ignore_errors=self._ignore_errors
                        )
                    else:
                        job = target.add_private_data_to_dataset_start(
                            integration_id, path, ignore_errors=self._ignore_errors
                        )
                except Exception as error:
                    raise _translate(error, subject, starting=True) from error
        return str(job)

    def poll_until(self, job_id: str, deadline: float) -> EncordJobResult:
        """`poll`, answered by `deadline` (monotonic seconds): one request, no retry."""
        subject = f"job {job_id} in {self.target}"
        wait = self._poll_wait_seconds
        with self._lock:
            self._bound(subject, deadline, wait)
            try:
                job = self._read_job(job_id, subject, wait)
            except RegistrationError:
                raise
            except sdk_errors.ResourceNotFoundError as error:
                # The one refusal that ends a job's follow-up (services/submit.py).
                raise EncordJobMissingError(subject, f"{type(error).__name__}: {error}") from error
            except Exception as error:
                raise _translate(error, subject, starting=False) from error
        return EncordJobResult(
            status=job.status,
            units_pending=job.counts.units_pending_count,
            units_done=job.counts.units_done_count,
            units_error=job.counts.units_error_count,
            units_cancelled=job.counts.units_cancelled_count,
            unit_errors=tuple(EncordUnitError(tuple(e.object_urls), e.error) for e in job.errors),
            # The same answer lists a finished job's items: no second call for them.
            items=job.items,
            items_listed=True,
        )

    def _read_job(self, job_id: str, subject: str, wait: int) -> _JobState:
        """One request for a job's state (the lock is held): never the SDK's get_result
        loop, which retries with sleeps whatever the client's settings."""
        if self._folder_uuid:
            state = self._api.get(
                f"storage/folders/{self._folder_uuid}/data-upload-jobs/"
                f"{_job_uuid(job_id, subject)}",
                params=GetUploadJobParams(timeout_seconds=wait),
                result_type=UploadLongPollingState,
            )
            return _JobState(
                state.status.value,
                state,
                tuple(state.unit_errors),
                tuple(EncordItem(str(i.item_uuid), i.name) for i in state.items_with_names),
            )
        assert self._dataset_querier is not None
        legacy = self._dataset_querier.basic_getter(
            DatasetDataLongPolling,
            self._dataset_hash,
            payload={"process_hash": job_id, "timeout_seconds": wait},
            retryable=False,
        )
        return _JobState(
            legacy.status.value,
            legacy,
            tuple(legacy.data_unit_errors),
            tuple(
                EncordItem(str(d.backing_item_uuid), d.title, data_hash=d.data_hash)
                for d in legacy.data_hashes_with_titles
            ),
        )

    def cancel(self, job_id: str) -> int:
        """Cancel a folder job; returns how many units were cancelled."""
        subject = f"job {job_id} in {self.target}"
        deadline = self._monotonic() + self._timeout
        with self._lock:
            target = self._resolve_target(subject, deadline)
            if not isinstance(target, StorageFolder):
                raise EncordRefusedError(subject, "the SDK has no cancel call for legacy datasets")
            self._bound(subject, deadline)
            try:
                return target.add_data_to_folder_job_cancel(
                    _job_uuid(job_id, subject)
                ).units_cancelled_count
            except RegistrationError:
                raise
            except Exception as error:
                raise _translate(error, subject, starting=False) from error

    def _bound(self, subject: str, deadline: float, server_wait: float = 0) -> None:
        """Give the next request what is left until deadline (the lock is held)."""
        left = min(self._timeout, deadline - self._monotonic())
        if left < MIN_CALL_SECONDS:
            raise EncordDeferredError(subject, "the invocation's time for Encord is spent")
        # A long poll is answered after server_wait: the read may take that much longer.
        read = left if server_wait <= 0 else max(left, server_wait + MIN_CALL_SECONDS)
        self._config.connect_timeout = min(10, left)  # type: ignore[assignment]
        self._config.read_timeout = read  # type: ignore[assignment]
        self._config.write_timeout = left  # type: ignore[assignment]

    # -- resolved once per instance (the lock is held)

    def _resolve_integration(self, subject: str, deadline: float) -> str:
        if self._integration_id is None:
            self._integration_id = self._look_up_integration(subject, deadline)
        return self._integration_id

    def _look_up_integration(self, subject: str, deadline: float) -> str:
        ref = self._integration_ref
        try:
            return str(uuid.UUID(ref))
        except ValueError:
            pass
        self._bound(subject, deadline)
        try:
            found = self._client.get_cloud_integrations(filter_integration_titles=[ref])
        except Exception as error:
            raise _translate(error, subject, starting=False) from error
        matches = sorted(i.id for i in found if i.title == ref)
        if len(matches) == 1:
            return matches[0]
        problem = (
            "no cloud integration visible to this key has that title"
            if not matches
            else f"{len(matches)} cloud integrations have that title ({', '.join(matches)})"
        )
        raise EncordRefusedError(
            f"integration {ref!r} (REGISTRATION_ENCORD_INTEGRATION)",
            f"{problem}; give the integration's UUID or a unique title",
        )

    def _resolve_target(self, subject: str, deadline: float) -> StorageFolder | Dataset:
        if self._folder_uuid and self._folder is not None:
            return self._folder
        if not self._folder_uuid and self._dataset is not None:
            return self._dataset
        self._bound(subject, deadline)
        try:
            if self._folder_uuid:
                self._folder = self._client.get_storage_folder(self._folder_uuid)
                return self._folder
            assert self._dataset_hash is not None
            self._dataset = self._client.get_dataset(self._dataset_hash, include_data_rows=False)
            return self._dataset
        except Exception as error:
            raise _translate(error, f"{subject} (looking up the target)", False) from error

    # -- After registration (issue 20): a finished job's items, deleting items, dataset links.
    # Kept apart from start/poll and the client's construction, which change separately; these
    # reuse only the resolved target, the client and _translate.

    # Datasets that items are linked to, looked up once per instance each (set on first use,
    # under the lock, so that the constructor stays as it is).
    _link_datasets: dict[str, Dataset] | None = None

    def job_items(self, job_id: str, *, with_urls: bool = False) -> JobItems:
        """The items a job created (empty until it has finished), from one short look at it.

        With `with_urls`, each item's URL is looked up too (`get_storage_items`, one call per
        ITEM_BATCH items): a file's item then carries its objectUrl, a group's or series' None.
        """
        return self.job_items_until(job_id, self._monotonic() + self._timeout, with_urls=with_urls)

    def job_items_until(self, job_id: str, deadline: float, *, with_urls: bool = False) -> JobItems:
        """`job_items`, answered by `deadline` (monotonic seconds)."""
        subject = f"items of job {job_id} in {self.target}"
        try:
            with self._lock:
                self._bound(subject, deadline)
                job = self._read_job(job_id, subject, 0)
            items = list(job.items)
            if with_urls and items:
                urls = self._item_urls([item.item_uuid for item in items], deadline)
                items = [
                    EncordItem(i.item_uuid, i.name, urls.get(i.item_uuid), i.data_hash)
                    for i in items
                ]
        except RegistrationError:
            raise
        except Exception as error:
            raise _translate(error, subject, starting=False) from error
        return JobItems(job_id, job.status, tuple(items))

    def delete_items(self, item_uuids: Sequence[str]) -> None:
        """Delete items from the target folder, with the frame files no other item uses.

        `remove_unused_frames=True` (docs/encord.md says why): a deleted group or series takes
        its own frame files along, and frames another item still uses stay. A refusal names the
        items; an unknown or already deleted item is refused like one the key may not see.
        """
        self.delete_items_until(item_uuids, self._monotonic() + self._timeout)

    def delete_items_until(self, item_uuids: Sequence[str], deadline: float) -> None:
        """`delete_items`, answered by `deadline` (monotonic seconds)."""
        subject = f"deleting {len(item_uuids)} item(s) from {self.target}"
        uuids = [_item_uuid(u, subject) for u in item_uuids]
        if not uuids:
            return
        try:
            with self._lock:
                target = self._resolve_target(subject, deadline)
                if not isinstance(target, StorageFolder):
                    raise EncordRefusedError(
                        subject, "items are deleted through a storage folder target"
                    )
                for chunk in _chunks(uuids, ITEM_BATCH):
                    self._bound(subject, deadline)
                    target.delete_storage_items(chunk, remove_unused_frames=True)
        except RegistrationError:
            raise
        except Exception as error:
            raise _translate(error, subject, starting=False) from error

    def link_items(self, dataset_hash: str, item_uuids: Sequence[str]) -> LinkOutcome:
        """Link items to a dataset; items already linked are skipped, so a retry is harmless."""
        return self.link_items_until(dataset_hash, item_uuids, self._monotonic() + self._timeout)

    def link_items_until(
        self, dataset_hash: str, item_uuids: Sequence[str], deadline: float
    ) -> LinkOutcome:
        """`link_items`, answered by `deadline` (monotonic seconds)."""
        subject = f"linking {len(item_uuids)} item(s) to dataset {dataset_hash}"
        uuids = [_item_uuid(u, subject) for u in item_uuids]
        try:
            with self._lock:
                dataset = self._dataset_to_link(dataset_hash, subject, deadline)
                linked: list[str] = []
                for chunk in _chunks(uuids, ITEM_BATCH):
                    self._bound(subject, deadline)
                    rows = dataset.link_items(chunk, DataLinkDuplicatesBehavior.SKIP)
                    # A linked storage item always backs its new row; one without is not ours.
                    linked.extend(str(r.backing_item_uuid) for r in rows if r.backing_item_uuid)
        except RegistrationError:
            raise
        except Exception as error:
            raise _translate(error, subject, starting=False) from error
        return LinkOutcome(dataset_hash, tuple(str(u) for u in uuids), tuple(linked))

    def _dataset_to_link(self, dataset_hash: str, subject: str, deadline: float) -> Dataset:
        """The dataset, looked up once per instance (the lock is held)."""
        if self._link_datasets is None:
            self._link_datasets = {}
        found = self._link_datasets.get(dataset_hash)
        if found is None:
            self._bound(subject, deadline)
            found = self._client.get_dataset(dataset_hash, include_data_rows=False)
            self._link_datasets[dataset_hash] = found
        return found

    def _item_urls(self, item_uuids: Sequence[str], deadline: float) -> dict[str, str | None]:
        urls: dict[str, str | None] = {}
        with self._lock:
            for chunk in _chunks([uuid.UUID(u) for u in item_uuids], ITEM_BATCH):
                self._bound("looking up item URLs", deadline)
                for item in self._client.get_storage_items(chunk):
                    urls[str(item.uuid)] = item.url
        return urls


class EncordSession:
    """One invocation's Encord calls (implements services.ports.EncordJobs).

    Each call gets min(the request timeout, the budget left) as its deadline. After the
    first timeout, 5xx, lost connection or 429, every later call of this invocation raises
    EncordDeferredError at once: with Encord hanging, a sweep still writes every manifest
    that is due and an event waits out one timeout at most. Created per invocation, never
    shared between requests.
    """

    def __init__(
        self, gateway: EncordGateway, budget_seconds: float | None, monotonic: Callable[[], float]
    ) -> None:
        self._gateway = gateway
        self._monotonic = monotonic
        self._deadline = None if budget_seconds is None else monotonic() + budget_seconds
        self._tripped: str | None = None

    @property
    def deferring(self) -> bool:
        """True once Encord failed in this invocation: its later calls are not sent."""
        return self._tripped is not None

    def start(self, manifest: Mapping[str, Any], file_name: str) -> str:
        subject = f"manifest {file_name} for {self._gateway.target}"
        deadline = self._call_deadline(subject)
        try:
            return self._gateway.start_until(manifest, file_name, deadline)
        except (EncordUnavailableError, EncordRateLimitedError) as error:
            self._trip(error)
            raise

    def poll(self, job_id: str) -> EncordJobResult:
        subject = f"job {job_id} in {self._gateway.target}"
        deadline = self._call_deadline(subject)
        try:
            return self._gateway.poll_until(job_id, deadline)
        except (EncordUnavailableError, EncordRateLimitedError) as error:
            self._trip(error)
            raise

    # The after-registration calls (issue 20), bounded and deferred like start and poll.

    def job_items(self, job_id: str, *, with_urls: bool = False) -> JobItems:
        subject = f"items of job {job_id} in {self._gateway.target}"
        return self._bounded(
            subject, lambda d: self._gateway.job_items_until(job_id, d, with_urls=with_urls)
        )

    def delete_items(self, item_uuids: Sequence[str]) -> None:
        subject = f"deleting {len(item_uuids)} item(s) from {self._gateway.target}"
        self._bounded(subject, lambda d: self._gateway.delete_items_until(item_uuids, d))

    def link_items(self, dataset_hash: str, item_uuids: Sequence[str]) -> LinkOutcome:
        subject = f"linking {len(item_uuids)} item(s) to dataset {dataset_hash}"
        return self._bounded(
            subject, lambda d: self._gateway.link_items_until(dataset_hash, item_uuids, d)
        )

    def _bounded(self, subject: str, call: Callable[[float], _T]) -> _T:
        deadline = self._call_deadline(subject)
        try:
            return call(deadline)
        except (EncordUnavailableError, EncordRateLimitedError) as error:
            self._trip(error)
            raise

    def _call_deadline(self, subject: str) -> float:
        if self._tripped is not None:
            raise EncordDeferredError(subject, self._tripped)
        own = self._monotonic() + self._gateway.request_timeout_seconds
        return own if self._deadline is None else min(own, self._deadline)

    def _trip(self, error: RegistrationError) -> None:
        if self._tripped is not None or isinstance(error, EncordDeferredError):
            return
        self._tripped = f"Encord failed earlier in this invocation: {error}"
        logs.warning(
            "encord calls deferred for the rest of this invocation",
            target=self._gateway.target,
            problem=str(error),
        )


_T = TypeVar("_T")

# The SDK's own bulk size for storage items (STORAGE_BUNDLE_CREATE_LIMIT); Encord documents no
# other limit for deleting, looking up or linking many items in one call.
ITEM_BATCH = 1000


def _chunks(values: Sequence[uuid.UUID], size: int) -> list[list[uuid.UUID]]:
    return [list(values[start : start + size]) for start in range(0, len(values), size)]


def _item_uuid(item_uuid: str, subject: str) -> uuid.UUID:
    try:
        return uuid.UUID(item_uuid)
    except ValueError:
        raise EncordRefusedError(subject, f"{item_uuid!r} is not an item UUID") from None


def _create_client(
    ssh_private_key: str | None, domain: str, request_timeout_seconds: float
) -> EncordUserClient:
    raw = ssh_private_key if ssh_private_key is not None else os.environ.get("ENCORD_SSH_KEY")
    # The plain policy: no retry, so no sleep between tries and no Retry-After slept inside
    # a call. A failed call is tried again by the next invocation, at a time the caller sets.
    timeout = max(1, int(request_timeout_seconds))
    settings = RequestsSettings(
        max_retries=0,
        backoff_factor=0,
        connection_retries=0,
        connect_timeout=min(10, timeout),
        read_timeout=timeout,
        write_timeout=timeout,
    )
    try:
        return EncordUserClient.create_with_ssh_private_key(
            ssh_private_key=_openssh_text(raw) if raw else None,
            requests_settings=settings,
            domain=domain.rstrip("/"),
        )
    except ConfigurationError:
        raise
    except Exception as error:
        # The SDK's own message for a wrong key quotes the key: never pass it on.
        raise ConfigurationError(
            "ENCORD_SSH_KEY", f"no usable Ed25519 private key ({type(error).__name__})"
        ) from None


def _openssh_text(key: str) -> str:
    """The key in the OpenSSH form the SDK loads; PKCS#8 PEM is converted."""
    text = key.strip()
    if "BEGIN OPENSSH PRIVATE KEY" in text:
        return text + "\n"
    try:
        loaded = load_pem_private_key(text.encode(), password=None)
    except (ValueError, TypeError):
        raise ConfigurationError(
            "ENCORD_SSH_KEY", "not an unencrypted Ed25519 private key in OpenSSH or PEM form"
        ) from None
    if not isinstance(loaded, Ed25519PrivateKey):
        raise ConfigurationError("ENCORD_SSH_KEY", "the key is not an Ed25519 key")
    return loaded.private_bytes(Encoding.PEM, PrivateFormat.OpenSSH, NoEncryption()).decode()


def _job_uuid(job_id: str, subject: str) -> uuid.UUID:
    try:
        return uuid.UUID(job_id)
    except ValueError:
        raise EncordRefusedError(subject, "a folder job id is a UUID") from None


def _translate(error: Exception, subject: str, starting: bool) -> RegistrationError:
    """The package's error for an SDK or network failure."""
    if isinstance(error, RegistrationError):
        return error
    if isinstance(error, sdk_errors.RateLimitExceededError):
        return EncordRateLimitedError(subject, error.retry_after)
    if isinstance(error, _REFUSALS):
        return EncordRefusedError(subject, f"{type(error).__name__}: {error}")
    # 5xx (UnknownException, GenericServerError), timeouts and lost connections
    # (RequestException), answers the SDK could not parse: a later attempt may succeed.
    return EncordUnavailableError(
        subject, error, job_may_exist=starting and _request_may_have_arrived(error)
    )


def _request_may_have_arrived(error: BaseException) -> bool:
    """False only when the connection was never made, so Encord cannot have seen the request."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, requests.exceptions.ConnectTimeout | NewConnectionError):
            return False
        if isinstance(current, requests.exceptions.ConnectionError) and any(
            isinstance(getattr(arg, "reason", None), NewConnectionError) for arg in current.args
        ):
            return False
        current = current.__cause__ or current.__context__
    return True
