"""config.py: REGISTRATION_* defaults, parsing, and start-up errors that name the variable."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from registration.config import load_settings
from registration.domain.limits import MAX_CSV_ENTRIES
from registration.domain.model import ManifestKey
from registration.exceptions import ConfigurationError


@pytest.fixture(autouse=True)
def no_registration_variables(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Only the variables a test sets: none leak in from the shell running the tests."""
    for name in list(os.environ):
        if name.startswith("REGISTRATION_"):
            monkeypatch.delenv(name)
    yield


def test_the_documented_defaults_apply_when_nothing_is_set() -> None:
    settings = load_settings()
    assert settings.batch_images == 1000
    assert settings.batch_videos == 100
    assert settings.manifest_prefix == "encord-manifests/"
    assert settings.manifest_bucket is None
    assert settings.max_age_seconds == 900
    assert settings.group_quiet_seconds == 300
    assert settings.url_style == "https"
    assert settings.manifest_format == "json"
    assert settings.image_group_prefixes == ()
    assert settings.image_sequence_prefixes == ()


def test_every_manifest_key_has_a_positive_default_batch_size() -> None:
    settings = load_settings()
    for key in ManifestKey:
        assert 1 <= settings.batch_size(key) <= MAX_CSV_ENTRIES, key


def test_the_manifest_bucket_defaults_to_the_events_bucket() -> None:
    assert load_settings().manifest_bucket_for("event-bucket") == "event-bucket"


def test_a_manifest_bucket_overrides_the_events_bucket(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRATION_MANIFEST_BUCKET", "manifests")
    assert load_settings().manifest_bucket_for("event-bucket") == "manifests"


def test_a_blank_manifest_bucket_means_the_events_bucket(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRATION_MANIFEST_BUCKET", "  ")
    assert load_settings().manifest_bucket_for("event-bucket") == "event-bucket"


@pytest.mark.parametrize(
    ("variable", "key"),
    [
        ("REGISTRATION_BATCH_IMAGES", ManifestKey.IMAGES),
        ("REGISTRATION_BATCH_VIDEOS", ManifestKey.VIDEOS),
        ("REGISTRATION_BATCH_AUDIO", ManifestKey.AUDIO),
        ("REGISTRATION_BATCH_PDFS", ManifestKey.PDFS),
        ("REGISTRATION_BATCH_TEXT", ManifestKey.TEXT),
        ("REGISTRATION_BATCH_NIFTI", ManifestKey.NIFTI),
        ("REGISTRATION_BATCH_IMAGE_GROUPS", ManifestKey.IMAGE_GROUPS),
        ("REGISTRATION_BATCH_DICOM_SERIES", ManifestKey.DICOM_SERIES),
    ],
)
def test_each_batch_variable_sets_the_batch_size_of_its_key(
    monkeypatch: pytest.MonkeyPatch, variable: str, key: ManifestKey
) -> None:
    monkeypatch.setenv(variable, "37")
    assert load_settings().batch_size(key) == 37


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("groups/", ("groups/",)),
        ("groups/,stills/", ("groups/", "stills/")),
        (" groups/ , stills/ ,", ("groups/", "stills/")),
        (",,", ()),
        ("", ()),
    ],
)
def test_prefix_lists_are_comma_separated_and_trimmed(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: tuple[str, ...]
) -> None:
    monkeypatch.setenv("REGISTRATION_IMAGE_GROUP_PREFIXES", raw)
    monkeypatch.setenv("REGISTRATION_IMAGE_SEQUENCE_PREFIXES", raw)
    settings = load_settings()
    assert settings.image_group_prefixes == expected
    assert settings.image_sequence_prefixes == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("manifests", "manifests/"),
        ("manifests/", "manifests/"),
        ("/manifests", "manifests/"),
        ("out/encord", "out/encord/"),
        (" manifests ", "manifests/"),
    ],
)
def test_the_manifest_prefix_is_normalised_to_a_folder(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: str
) -> None:
    monkeypatch.setenv("REGISTRATION_MANIFEST_PREFIX", raw)
    assert load_settings().manifest_prefix == expected


def test_gs_urls_and_csv_manifests_can_be_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRATION_URL_STYLE", "gs")
    monkeypatch.setenv("REGISTRATION_MANIFEST_FORMAT", "csv")
    settings = load_settings()
    assert (settings.url_style, settings.manifest_format) == ("gs", "csv")


def test_csv_accepts_a_batch_of_exactly_10000(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRATION_MANIFEST_FORMAT", "csv")
    monkeypatch.setenv("REGISTRATION_BATCH_IMAGES", "10000")
    assert load_settings().batch_images == 10_000


def test_json_accepts_a_batch_of_500000(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRATION_BATCH_IMAGES", "500000")
    assert load_settings().batch_images == 500_000


@pytest.mark.parametrize(
    ("environment", "variable"),
    [
        ({"REGISTRATION_BATCH_IMAGES": "0"}, "REGISTRATION_BATCH_IMAGES"),
        ({"REGISTRATION_BATCH_IMAGES": "abc"}, "REGISTRATION_BATCH_IMAGES"),
        ({"REGISTRATION_BATCH_IMAGES": "600000"}, "REGISTRATION_BATCH_IMAGES"),
        ({"REGISTRATION_BATCH_VIDEOS": "-5"}, "REGISTRATION_BATCH_VIDEOS"),
        ({"REGISTRATION_BATCH_DICOM_SERIES": "1.5"}, "REGISTRATION_BATCH_DICOM_SERIES"),
        ({"REGISTRATION_URL_STYLE": "ftp"}, "REGISTRATION_URL_STYLE"),
        ({"REGISTRATION_MANIFEST_FORMAT": "xml"}, "REGISTRATION_MANIFEST_FORMAT"),
        ({"REGISTRATION_MAX_AGE_SECONDS": "-1"}, "REGISTRATION_MAX_AGE_SECONDS"),
        ({"REGISTRATION_MAX_AGE_SECONDS": "0"}, "REGISTRATION_MAX_AGE_SECONDS"),
        ({"REGISTRATION_GROUP_QUIET_SECONDS": "soon"}, "REGISTRATION_GROUP_QUIET_SECONDS"),
        ({"REGISTRATION_MANIFEST_PREFIX": "/"}, "REGISTRATION_MANIFEST_PREFIX"),
        ({"REGISTRATION_MANIFEST_PREFIX": "  "}, "REGISTRATION_MANIFEST_PREFIX"),
        (
            {"REGISTRATION_MANIFEST_FORMAT": "csv", "REGISTRATION_BATCH_IMAGES": "10001"},
            "REGISTRATION_BATCH_IMAGES",
        ),
        (
            {"REGISTRATION_MANIFEST_FORMAT": "csv", "REGISTRATION_BATCH_TEXT": "20000"},
            "REGISTRATION_BATCH_TEXT",
        ),
        (
            {"REGISTRATION_MANIFEST_FORMAT": "csv", "REGISTRATION_BATCH_IMAGE_GROUPS": "10001"},
            "REGISTRATION_BATCH_IMAGE_GROUPS",
        ),
    ],
)
def test_an_invalid_value_stops_start_up_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], variable: str
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    assert caught.value.variable == variable
    assert variable in str(caught.value)
    assert caught.value.problem  # says what is wrong, not just where


def test_the_csv_error_says_why_the_batch_is_too_big(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRATION_MANIFEST_FORMAT", "csv")
    monkeypatch.setenv("REGISTRATION_BATCH_VIDEOS", "10001")
    with pytest.raises(ConfigurationError, match=r"REGISTRATION_BATCH_VIDEOS: .*10000.*10001"):
        load_settings()


def test_variables_of_other_programs_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRATION_SOMETHING_ELSE", "whatever")
    monkeypatch.setenv("BATCH_IMAGES", "0")
    assert load_settings().batch_images == 1000


# -- after registration (issue 20): datasets, policies, the notification topic

FOLDER = "0f8b7a52-3c1e-4d2a-9b6f-5e4d3c2b1a09"


def with_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRATION_ENCORD_FOLDER", FOLDER)
    monkeypatch.setenv("REGISTRATION_ENCORD_INTEGRATION", "gcs")


def test_after_registration_everything_is_only_reported_by_default() -> None:
    settings = load_settings()
    assert settings.encord_datasets == ()
    assert settings.encord_on_delete == "report"
    assert settings.encord_on_overwrite == "report"
    assert settings.notify_topic is None
    assert settings.notify_topic_path("my-project") is None


def test_datasets_are_a_comma_separated_list_of_hashes_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with_folder(monkeypatch)
    dataset = "4c1e9a2e-aaaa-4bbb-8ccc-0123456789ab"
    monkeypatch.setenv("REGISTRATION_ENCORD_DATASETS", f" ds-b , {dataset},")
    assert load_settings().encord_datasets == ("ds-b", dataset)


def test_the_policies_carry_deletes_and_overwrites_over_when_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with_folder(monkeypatch)
    monkeypatch.setenv("REGISTRATION_ENCORD_ON_DELETE", "delete")
    monkeypatch.setenv("REGISTRATION_ENCORD_ON_OVERWRITE", "replace")
    settings = load_settings()
    assert (settings.encord_on_delete, settings.encord_on_overwrite) == ("delete", "replace")


@pytest.mark.parametrize(
    ("raw", "project", "expected"),
    [
        ("job-ends", "my-project", "projects/my-project/topics/job-ends"),
        ("projects/other-proj/topics/t.1~x", "my-project", "projects/other-proj/topics/t.1~x"),
        (
            "projects/example.com:scoped-proj/topics/ends",
            "my-project",
            "projects/example.com:scoped-proj/topics/ends",
        ),
        ("  job-ends  ", "p-123456", "projects/p-123456/topics/job-ends"),
    ],
)
def test_a_bare_topic_id_is_in_the_functions_own_project(
    monkeypatch: pytest.MonkeyPatch, raw: str, project: str, expected: str
) -> None:
    with_folder(monkeypatch)
    monkeypatch.setenv("REGISTRATION_NOTIFY_TOPIC", raw)
    assert load_settings().notify_topic_path(project) == expected


def test_a_blank_topic_means_no_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRATION_NOTIFY_TOPIC", "   ")
    assert load_settings().notify_topic is None


@pytest.mark.parametrize(
    ("environment", "variable", "problem"),
    [
        ({"ENCORD_ON_DELETE": "remove"}, "REGISTRATION_ENCORD_ON_DELETE", "delete"),
        ({"ENCORD_ON_OVERWRITE": "delete"}, "REGISTRATION_ENCORD_ON_OVERWRITE", "replace"),
        ({"ENCORD_DATASETS": "a b"}, "REGISTRATION_ENCORD_DATASETS", "'a b'"),
        ({"ENCORD_DATASETS": "x/y"}, "REGISTRATION_ENCORD_DATASETS", "'x/y'"),
        ({"ENCORD_DATASETS": "ds-1,ds-2,ds-1"}, "REGISTRATION_ENCORD_DATASETS", "ds-1"),
        ({"NOTIFY_TOPIC": "ab"}, "REGISTRATION_NOTIFY_TOPIC", "3-255"),
        ({"NOTIFY_TOPIC": "goog-ends"}, "REGISTRATION_NOTIFY_TOPIC", "goog"),
        ({"NOTIFY_TOPIC": "1-starts-with-a-digit"}, "REGISTRATION_NOTIFY_TOPIC", "letter"),
        ({"NOTIFY_TOPIC": "projects/p/topics/t"}, "REGISTRATION_NOTIFY_TOPIC", "projects/"),
        ({"NOTIFY_TOPIC": "projects/my-project/subscriptions/s"}, "REGISTRATION_NOTIFY_TOPIC", ""),
        ({"NOTIFY_TOPIC": "topics/ends"}, "REGISTRATION_NOTIFY_TOPIC", ""),
    ],
)
def test_an_invalid_after_registration_value_stops_start_up_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], variable: str, problem: str
) -> None:
    with_folder(monkeypatch)
    for name, value in environment.items():
        monkeypatch.setenv("REGISTRATION_" + name, value)
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    assert caught.value.variable == variable
    assert problem in caught.value.problem


@pytest.mark.parametrize(
    ("environment", "variable"),
    [
        ({"ENCORD_DATASETS": "ds-1"}, "REGISTRATION_ENCORD_DATASETS"),
        ({"ENCORD_ON_DELETE": "delete"}, "REGISTRATION_ENCORD_ON_DELETE"),
        ({"ENCORD_ON_OVERWRITE": "replace"}, "REGISTRATION_ENCORD_ON_OVERWRITE"),
        ({"NOTIFY_TOPIC": "job-ends"}, "REGISTRATION_NOTIFY_TOPIC"),
    ],
)
def test_carrying_anything_over_to_encord_without_a_target_stops_start_up(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], variable: str
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv("REGISTRATION_" + name, value)
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    assert caught.value.variable == variable
    assert "REGISTRATION_ENCORD_FOLDER" in caught.value.problem


@pytest.mark.parametrize(
    ("variable", "value"),
    [("REGISTRATION_ENCORD_ON_DELETE", "delete"), ("REGISTRATION_ENCORD_ON_OVERWRITE", "replace")],
)
def test_deleting_items_needs_a_folder_target_not_a_legacy_dataset(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv("REGISTRATION_ENCORD_DATASET", "legacy-hash")
    monkeypatch.setenv("REGISTRATION_ENCORD_INTEGRATION", "gcs")
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    assert caught.value.variable == variable


def test_a_legacy_dataset_target_may_still_link_and_notify(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRATION_ENCORD_DATASET", "legacy-hash")
    monkeypatch.setenv("REGISTRATION_ENCORD_INTEGRATION", "gcs")
    monkeypatch.setenv("REGISTRATION_ENCORD_DATASETS", "annotate-here")
    monkeypatch.setenv("REGISTRATION_NOTIFY_TOPIC", "job-ends")
    settings = load_settings()
    assert settings.encord_datasets == ("annotate-here",)
    assert settings.notify_topic == "job-ends"
