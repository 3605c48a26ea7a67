"""Settings from REGISTRATION_* environment variables, validated once at start-up."""

from __future__ import annotations

import re
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from registration.domain.limits import (
    MAX_CSV_ENTRIES,
    MAX_JSON_ITEMS,
    MAX_MANIFEST_PREFIX_BYTES,
    MAX_SEQUENCE_FRAMES,
)
from registration.domain.model import ManifestKey
from registration.exceptions import ConfigurationError

ENV_PREFIX = "REGISTRATION_"
DEFAULT_ENCORD_DOMAIN = "https://api.encord.com"
UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
# An Encord dataset hash as it appears in the app's address bar: no spaces, commas or slashes.
DATASET_HASH_PATTERN = r"^[A-Za-z0-9_-]{1,128}$"
# Pub/Sub's own rules: a topic id is 3-255 characters, starts with a letter, uses letters,
# digits and - _ . ~ + %, and never starts with "goog"; a project id is 6-30 lowercase
# letters, digits and hyphens (domain-scoped projects prefix "example.com:").
TOPIC_ID_PATTERN = r"(?!goog)[A-Za-z][A-Za-z0-9._~+%-]{2,254}"
PROJECT_ID_PATTERN = r"(?:[a-z0-9.-]+:)?[a-z][a-z0-9-]{4,28}[a-z0-9]"

BatchSize = Annotated[int, Field(ge=1, le=MAX_JSON_ITEMS)]


class Settings(BaseSettings):
    """Every knob of the function. Field names map to REGISTRATION_<FIELD> variables."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    # Encord recommends 100 videos or 1,000 images per upload. The other defaults follow the
    # same reasoning: small, heavy files (audio, PDFs, NIfTI volumes) in hundreds; groups and
    # series, each of which is many files, in small batches.
    batch_images: BatchSize = 1000
    batch_videos: BatchSize = 100
    batch_audio: BatchSize = 500
    batch_pdfs: BatchSize = 500
    batch_text: BatchSize = 1000
    batch_nifti: BatchSize = 100
    batch_image_groups: BatchSize = 50
    batch_dicom_series: BatchSize = 50

    manifest_bucket: str | None = None
    manifest_prefix: str = "encord-manifests/"
    max_age_seconds: Annotated[int, Field(ge=1)] = 900
    image_group_prefixes: Annotated[tuple[str, ...], NoDecode] = ()
    image_sequence_prefixes: Annotated[tuple[str, ...], NoDecode] = ()
    group_quiet_seconds: Annotated[int, Field(ge=1)] = 300
    url_style: Literal["https", "gs"] = "https"
    manifest_format: Literal["json", "csv"] = "json"
    # A batch lease or claim older than this belongs to an instance that died mid-flush and
    # may be taken over. It must outlast the slowest claim-and-write by a wide margin.
    lease_seconds: Annotated[int, Field(ge=1)] = 120
    # One sweep stops starting new work after this long, below the sweep function's 300 s
    # timeout, reports work_remaining, and the next run picks up where it stopped.
    sweep_budget_seconds: Annotated[int, Field(ge=1)] = 240
    # With Encord jobs running, the sweep polls them once more this many seconds after it
    # started (0: once per run). On the one-minute schedule a job's end is then recorded
    # within about this long, not a whole minute; a run with no job running never waits.
    # Off by default (a library default that never sleeps); the deployment turns it on with
    # its one-minute schedule (deploy/terraform/variables.tf, deploy/deploy.sh: 30).
    sweep_repoll_seconds: Annotated[int, Field(ge=0, le=50)] = 0
    # With a value above 0, a registered object's record expires this many days after its
    # batch's way finished (manifest written with no target, or its Encord job ended), and
    # a tombstone this many days after the delete (a Firestore TTL policy on expire_at;
    # docs/deploy.md says what expiry gives up). 0 keeps records for ever.
    record_retention_days: Annotated[int, Field(ge=0)] = 0
    # How late the sweep may be (its schedule, plus a run's own time) before a buffer past
    # its max age counts as overdue in the ops view and its alert.
    sweep_grace_seconds: Annotated[int, Field(ge=0)] = 600
    # Encord supports 32,767 frames per image sequence; longer ones are split into parts.
    max_sequence_frames: Annotated[int, Field(ge=1, le=MAX_SEQUENCE_FRAMES)] = MAX_SEQUENCE_FRAMES

    # A scheduled reconcile (the `reconcile` function, run daily by Cloud Scheduler) repairs
    # what events missed under these prefixes of this bucket; `{date}` in a prefix stands for
    # each of the last reconcile_days days (YYYY-MM-DD). No bucket: nothing is scheduled.
    reconcile_bucket: str | None = None
    reconcile_prefixes: Annotated[tuple[str, ...], NoDecode] = ("",)
    reconcile_days: Annotated[int, Field(ge=1, le=31)] = 2

    # Submission to Encord (opt-in: with no target, manifests are only written). The key the
    # SDK signs with is the SDK's own ENCORD_SSH_KEY, mounted from Secret Manager.
    encord_folder: str | None = None
    encord_dataset: str | None = None
    encord_integration: str | None = None
    encord_domain: str = DEFAULT_ENCORD_DOMAIN
    encord_ignore_errors: bool = True
    # An Encord job still pending this long after it was submitted needs a person.
    encord_job_attention_seconds: Annotated[int, Field(ge=60)] = 3600
    # One Encord request's timeout. An event waits this long at most when Encord hangs (its
    # first failure defers the rest of the invocation's Encord calls: docs/encord.md).
    encord_timeout_seconds: Annotated[int, Field(ge=2, le=120)] = 30

    # After registration (issue 20). Each finished job's new items are linked to these
    # datasets; a registered object deleted from the bucket, or overwritten by a new
    # generation, is only reported unless the policy says to carry it over to Encord.
    encord_datasets: Annotated[tuple[str, ...], NoDecode] = ()
    encord_on_delete: Literal["report", "delete"] = "report"
    encord_on_overwrite: Literal["report", "replace"] = "report"
    # One Pub/Sub message per finished Encord job: `projects/P/topics/T`, or a bare topic id
    # in the function's own project (resolved by notify_topic_path).
    notify_topic: str | None = None

    @field_validator(
        "image_group_prefixes",
        "image_sequence_prefixes",
        "reconcile_prefixes",
        "encord_datasets",
        mode="before",
    )
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("manifest_prefix")
    @classmethod
    def _prefix_is_a_folder(cls, value: str) -> str:
        value = value.strip().lstrip("/")
        if not value:
            raise ValueError("must not be empty: the function would trigger on its own manifests")
        if len(value.encode("utf-8", "surrogatepass")) > MAX_MANIFEST_PREFIX_BYTES:
            # Room must be left for the folder, key and batch id within GCS's 1,024 bytes.
            raise ValueError(f"must be at most {MAX_MANIFEST_PREFIX_BYTES} bytes of UTF-8")
        return value if value.endswith("/") else value + "/"

    @field_validator(
        "manifest_bucket",
        "encord_folder",
        "encord_dataset",
        "encord_integration",
        "reconcile_bucket",
        "notify_topic",
        mode="before",
    )
    @classmethod
    def _blank_bucket_means_event_bucket(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("encord_folder")
    @classmethod
    def _folder_is_a_uuid(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(UUID_PATTERN, value):
            raise ValueError(f"must be the UUID of an Encord storage folder, got {value!r}")
        return value

    @field_validator("encord_datasets")
    @classmethod
    def _datasets_are_distinct_hashes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for dataset in value:
            if not re.fullmatch(DATASET_HASH_PATTERN, dataset):
                raise ValueError(f"each entry must be an Encord dataset hash, got {dataset!r}")
        repeated = sorted({d for d in value if value.count(d) > 1})
        if repeated:
            # A repeated hash would be linked twice per batch: say so rather than guess.
            raise ValueError(f"lists {', '.join(repeated)} more than once")
        return value

    @field_validator("notify_topic")
    @classmethod
    def _topic_is_a_pubsub_topic(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        full = rf"projects/{PROJECT_ID_PATTERN}/topics/{TOPIC_ID_PATTERN}"
        if not (re.fullmatch(full, value) or re.fullmatch(TOPIC_ID_PATTERN, value)):
            raise ValueError(
                f"must be projects/PROJECT/topics/TOPIC or a topic id (3-255 characters, "
                f"starting with a letter, not with 'goog'), got {value!r}"
            )
        return value

    @field_validator("encord_domain")
    @classmethod
    def _domain_is_an_origin(cls, value: str) -> str:
        # The SDK takes scheme://host[:port] with no path (another region, or a local stub).
        url = urlsplit(value.strip())
        if url.scheme not in ("http", "https") or not url.netloc or url.path not in ("", "/"):
            raise ValueError(f"must be like https://api.encord.com, got {value!r}")
        return f"{url.scheme}://{url.netloc}"

    @model_validator(mode="after")
    def _one_encord_target_with_its_integration(self) -> Settings:
        if self.encord_folder and self.encord_dataset:
            raise ValueError(
                "encord_dataset: set REGISTRATION_ENCORD_FOLDER or REGISTRATION_ENCORD_DATASET, "
                "not both"
            )
        if self.encord_target is not None and not self.encord_integration:
            raise ValueError(
                "encord_integration: required when an Encord folder or dataset is set "
                "(the cloud integration's UUID or title)"
            )
        return self

    @model_validator(mode="after")
    def _after_registration_needs_a_target(self) -> Settings:
        # Checked in field order, so the error names the first variable that cannot work.
        if self.encord_datasets and self.encord_target is None:
            raise ValueError(
                "encord_datasets: linking items needs an Encord target "
                "(REGISTRATION_ENCORD_FOLDER or REGISTRATION_ENCORD_DATASET)"
            )
        # Items are deleted through their storage folder (StorageFolder.delete_storage_items):
        # with a legacy dataset target the function does not know the folder, so it can
        # only report.
        for field, policy in (
            ("encord_on_delete", self.encord_on_delete),
            ("encord_on_overwrite", self.encord_on_overwrite),
        ):
            if policy != "report" and self.encord_folder is None:
                raise ValueError(
                    f"{field}: {policy!r} deletes items from Encord, which needs "
                    "REGISTRATION_ENCORD_FOLDER; use 'report' otherwise"
                )
        if self.notify_topic and self.encord_target is None:
            raise ValueError(
                "notify_topic: messages are sent when an Encord job ends, which needs "
                "REGISTRATION_ENCORD_FOLDER or REGISTRATION_ENCORD_DATASET"
            )
        return self

    def notify_topic_path(self, project: str) -> str | None:
        """The topic's full name; a bare topic id is in `project` (the function's own)."""
        if self.notify_topic is None or self.notify_topic.startswith("projects/"):
            return self.notify_topic
        return f"projects/{project}/topics/{self.notify_topic}"

    @property
    def encord_target(self) -> str | None:
        """The folder or dataset manifests are submitted to; None: only written."""
        return self.encord_folder or self.encord_dataset

    @property
    def submits_to_encord(self) -> bool:
        """Whether written manifests go to Encord: a setting, never the presence of a gateway
        (the status function reads submissions without one)."""
        return self.encord_target is not None

    @model_validator(mode="after")
    def _csv_files_hold_at_most_10000_entries(self) -> Settings:
        if self.manifest_format == "csv":
            for key in ManifestKey:
                if self.batch_size(key) > MAX_CSV_ENTRIES:
                    field = f"batch_{key.value}"
                    raise ValueError(
                        f"{field}: CSV manifests hold at most {MAX_CSV_ENTRIES} entries, "
                        f"got {self.batch_size(key)}"
                    )
        return self

    def batch_size(self, key: ManifestKey) -> int:
        size: int = getattr(self, f"batch_{key.value}")
        return size

    def manifest_bucket_for(self, event_bucket: str) -> str:
        return self.manifest_bucket or event_bucket


def env_name(field: str) -> str:
    return ENV_PREFIX + field.upper()


def load_settings() -> Settings:
    """Read and validate the environment, raising ConfigurationError naming the variable."""
    try:
        return Settings()
    except ValidationError as error:
        first = error.errors()[0]
        location = [str(part) for part in first["loc"]]
        message = first["msg"].removeprefix("Value error, ")
        if location:
            variable = env_name(location[0])
        else:
            # Model-level checks name their field at the start of the message.
            field, _, message = message.removeprefix("Value error, ").partition(": ")
            variable = env_name(field)
        raise ConfigurationError(variable, message) from error
