"""Encord, through its SDK: start one upload job per manifest, then poll it. The only module
that imports `encord`.

Facts of encord 0.1.211 this module is built around (read from its source):

- `RequestsSettings` is per client and its `read_timeout` applies to every request. The start
  call is sent with no retry on a read error or an HTTP status (only connection failures are
  retried), so with `request_timeout_seconds` a start whose answer is lost surfaces as
  `EncordUnavailableError(job_may_exist=True)` after that many seconds instead of 180.
- Polls always pass a short `timeout_seconds` (`poll_wait_seconds`, 0 by default: one request,
  one answer). The SDK's default is 7 days, sent to the server as the long-poll duration.
  When a poll loses its connection, the SDK's own loop still sleeps 10 s between its 3 tries.
- A dict manifest is sent without a file name; a `Path` is read back and sends its name. So
  `start` writes the manifest to a temporary file named `file_name` and passes that path.
- The SDK only loads OpenSSH-format Ed25519 keys, and its error for a wrong key quotes the key.
  PKCS#8 PEM keys are converted here, and key errors never repeat the SDK's message.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any, cast

import encord.exceptions as sdk_errors
import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)
from encord.dataset import Dataset
from encord.http.constants import RequestsSettings
from encord.orm.dataset import DataLinkDuplicatesBehavior
from encord.storage import StorageFolder
from encord.user_client import EncordUserClient
from urllib3.exceptions import NewConnectionError

from registration.domain.encord_items import EncordItem, JobItems, LinkOutcome
from registration.domain.submission import (
    EncordJobResult,
    EncordUnitError,
    JobStatus,
)
from registration.exceptions import (
    ConfigurationError,
    EncordRateLimitedError,
    EncordRefusedError,
    EncordUnavailableError,
    RegistrationError,
)

DEFAULT_DOMAIN = "https://api.encord.com"

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


class EncordGateway:
    """Registers manifests into one Encord storage folder or one legacy dataset.

    Exactly one of `folder` (a storage folder UUID) and `dataset` (a legacy dataset hash) is
    set. `integration` is the cloud integration's UUID or its title; a title is looked up once,
    on first use, and must match exactly one integration. `ssh_private_key` is an Ed25519 key
    (OpenSSH or PKCS#8 PEM); None reads `ENCORD_SSH_KEY` (or the SDK's `ENCORD_SSH_KEY_FILE`).
    Creating a gateway makes no network call; `check()` resolves everything up front.
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
        request_timeout_seconds: int = 30,
        poll_wait_seconds: int = 0,
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
        self._client = _create_client(ssh_private_key, domain, request_timeout_seconds)
        self._lock = threading.Lock()
        self._integration_id: str | None = None
        self._folder: StorageFolder | None = None
        self._dataset: Dataset | None = None

    @property
    def target(self) -> str:
        """'folder <uuid>' or 'dataset <hash>', as error messages name it."""
        if self._folder_uuid:
            return f"folder {self._folder_uuid}"
        return f"dataset {self._dataset_hash}"

    def check(self) -> None:
        """Resolve the integration and fetch the target now, so bad settings fail at start-up."""
        subject = f"{self.target} with integration {self._integration_ref!r}"
        self._resolve_integration(subject)
        self._resolve_target(subject)

    def start(self, manifest: Mapping[str, Any], file_name: str) -> str:
        """Submit one manifest as one upload job; returns the job id.

        Raises EncordRateLimitedError (nothing created), EncordUnavailableError (check
        `job_may_exist`) or EncordRefusedError (never retry as is).
        """
        subject = f"manifest {file_name} for {self.target}"
        integration_id = self._resolve_integration(subject)
        target = self._resolve_target(subject)
        with tempfile.TemporaryDirectory(prefix="encord-manifest-") as tmp:
            path = Path(tmp) / (PurePosixPath(file_name).name or "manifest.json")
            path.write_text(json.dumps(manifest), encoding="utf-8")
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

    def poll(self, job_id: str) -> EncordJobResult:
        """One short look at a job (never the SDK's 7-day long poll)."""
        subject = f"job {job_id} in {self.target}"
        target = self._resolve_target(subject)
        try:
            if isinstance(target, StorageFolder):
                state = target.add_private_data_to_folder_get_result(
                    _job_uuid(job_id, subject), timeout_seconds=self._poll_wait_seconds
                )
                errors = state.unit_errors
            else:
                legacy = target.add_private_data_to_dataset_get_result(
                    job_id, timeout_seconds=self._poll_wait_seconds
                )
                errors = legacy.data_unit_errors
        except RegistrationError:
            raise
        except Exception as error:
            raise _translate(error, subject, starting=False) from error
        counts = state if isinstance(target, StorageFolder) else legacy
        return EncordJobResult(
            status=counts.status.value,
            units_pending=counts.units_pending_count,
            units_done=counts.units_done_count,
            units_error=counts.units_error_count,
            units_cancelled=counts.units_cancelled_count,
            unit_errors=tuple(EncordUnitError(tuple(e.object_urls), e.error) for e in errors),
        )

    def cancel(self, job_id: str) -> int:
        """Cancel a folder job; returns how many units were cancelled."""
        subject = f"job {job_id} in {self.target}"
        target = self._resolve_target(subject)
        if not isinstance(target, StorageFolder):
            raise EncordRefusedError(subject, "the SDK has no cancel call for legacy datasets")
        try:
            return target.add_data_to_folder_job_cancel(
                _job_uuid(job_id, subject)
            ).units_cancelled_count
        except RegistrationError:
            raise
        except Exception as error:
            raise _translate(error, subject, starting=False) from error

    # -- resolved once per instance

    def _resolve_integration(self, subject: str) -> str:
        with self._lock:
            if self._integration_id is None:
                self._integration_id = self._look_up_integration(subject)
            return self._integration_id

    def _look_up_integration(self, subject: str) -> str:
        ref = self._integration_ref
        try:
            return str(uuid.UUID(ref))
        except ValueError:
            pass
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

    def _resolve_target(self, subject: str) -> StorageFolder | Dataset:
        with self._lock:
            try:
                if self._folder_uuid:
                    if self._folder is None:
                        self._folder = self._client.get_storage_folder(self._folder_uuid)
                    return self._folder
                if self._dataset is None:
                    assert self._dataset_hash is not None
                    self._dataset = self._client.get_dataset(
                        self._dataset_hash, include_data_rows=False
                    )
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
        subject = f"items of job {job_id} in {self.target}"
        target = self._resolve_target(subject)
        try:
            items: list[EncordItem]
            if isinstance(target, StorageFolder):
                state = target.add_private_data_to_folder_get_result(
                    _job_uuid(job_id, subject), timeout_seconds=0
                )
                status = state.status.value
                items = [EncordItem(str(i.item_uuid), i.name) for i in state.items_with_names]
            else:
                legacy = target.add_private_data_to_dataset_get_result(job_id, timeout_seconds=0)
                status = legacy.status.value
                items = [
                    EncordItem(str(d.backing_item_uuid), d.title, data_hash=d.data_hash)
                    for d in legacy.data_hashes_with_titles
                ]
            if with_urls and items:
                urls = self._item_urls([item.item_uuid for item in items])
                items = [
                    EncordItem(i.item_uuid, i.name, urls.get(i.item_uuid), i.data_hash)
                    for i in items
                ]
        except RegistrationError:
            raise
        except Exception as error:
            raise _translate(error, subject, starting=False) from error
        # The SDK parses the status into LongPollingStatus, whose values are exactly JobStatus.
        return JobItems(job_id, cast(JobStatus, status), tuple(items))

    def delete_items(self, item_uuids: Sequence[str]) -> None:
        """Delete items from the target folder, with the frame files no other item uses.

        `remove_unused_frames=True` (docs/encord.md says why): a deleted group or series takes
        its own frame files along, and frames another item still uses stay. A refusal names the
        items; an unknown or already deleted item is refused like one the key may not see.
        """
        subject = f"deleting {len(item_uuids)} item(s) from {self.target}"
        uuids = [_item_uuid(u, subject) for u in item_uuids]
        if not uuids:
            return
        target = self._resolve_target(subject)
        if not isinstance(target, StorageFolder):
            raise EncordRefusedError(subject, "items are deleted through a storage folder target")
        try:
            for chunk in _chunks(uuids, ITEM_BATCH):
                target.delete_storage_items(chunk, remove_unused_frames=True)
        except RegistrationError:
            raise
        except Exception as error:
            raise _translate(error, subject, starting=False) from error

    def link_items(self, dataset_hash: str, item_uuids: Sequence[str]) -> LinkOutcome:
        """Link items to a dataset; items already linked are skipped, so a retry is harmless."""
        subject = f"linking {len(item_uuids)} item(s) to dataset {dataset_hash}"
        uuids = [_item_uuid(u, subject) for u in item_uuids]
        try:
            dataset = self._dataset_to_link(dataset_hash)
            linked: list[str] = []
            for chunk in _chunks(uuids, ITEM_BATCH):
                rows = dataset.link_items(chunk, DataLinkDuplicatesBehavior.SKIP)
                # A linked storage item always backs its new row; a row without one is not ours.
                linked.extend(str(r.backing_item_uuid) for r in rows if r.backing_item_uuid)
        except RegistrationError:
            raise
        except Exception as error:
            raise _translate(error, subject, starting=False) from error
        return LinkOutcome(dataset_hash, tuple(str(u) for u in uuids), tuple(linked))

    def _dataset_to_link(self, dataset_hash: str) -> Dataset:
        with self._lock:
            if self._link_datasets is None:
                self._link_datasets = {}
            found = self._link_datasets.get(dataset_hash)
            if found is None:
                found = self._client.get_dataset(dataset_hash, include_data_rows=False)
                self._link_datasets[dataset_hash] = found
            return found

    def _item_urls(self, item_uuids: Sequence[str]) -> dict[str, str | None]:
        urls: dict[str, str | None] = {}
        for chunk in _chunks([uuid.UUID(u) for u in item_uuids], ITEM_BATCH):
            for item in self._client.get_storage_items(chunk):
                urls[str(item.uuid)] = item.url
        return urls


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
    ssh_private_key: str | None, domain: str, request_timeout_seconds: int
) -> EncordUserClient:
    raw = ssh_private_key if ssh_private_key is not None else os.environ.get("ENCORD_SSH_KEY")
    settings = RequestsSettings(
        max_retries=1,  # polls only: the SDK never retries a start on a status or a read error
        backoff_factor=0.5,
        connection_retries=2,
        connect_timeout=min(10, request_timeout_seconds),
        read_timeout=request_timeout_seconds,
        write_timeout=request_timeout_seconds,
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
