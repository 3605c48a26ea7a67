"""The Terraform in deploy/terraform, parsed (no terraform binary or GCP access needed)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from registration.config import Settings, env_name
from tests.deploy.tools import TERRAFORM, Block, single, terraform

FUNCTION = "google_cloudfunctions2_function"
STORAGE_EVENTS = {
    "google.cloud.storage.object.v1.finalized",
    "google.cloud.storage.object.v1.deleted",
}
RUNTIME_SA = "serviceAccount:${google_service_account.runtime.email}"
TRIGGER_SA = "serviceAccount:${google_service_account.trigger.email}"
SCHEDULER_SA = "serviceAccount:${google_service_account.scheduler.email}"
IAM_TYPES = (
    "google_project_iam_member",
    "google_storage_bucket_iam_member",
    "google_service_account_iam_member",
    "google_cloud_run_v2_service_iam_member",
)


def functions() -> dict[str, Block]:
    return terraform().of_type(FUNCTION)


def grants() -> list[tuple[str, str, Block]]:
    """(resource type, resource name, body) of every IAM grant."""
    tf = terraform()
    return [(type_, name, body) for (type_, name), body in tf.resources.items() if "role" in body]


def test_on_storage_event_is_deployed_once_per_storage_event_type() -> None:
    event_function = terraform().resource(FUNCTION, "on_storage_event")
    assert event_function["for_each"] == "${local.storage_events}"
    assert set(terraform().locals["storage_events"].values()) == STORAGE_EVENTS
    assert single(event_function["build_config"])["entry_point"] == "on_storage_event"
    assert single(event_function["event_trigger"])["event_type"] == "${each.value}"


def test_storage_triggers_retry_failed_deliveries() -> None:
    trigger = single(terraform().resource(FUNCTION, "on_storage_event")["event_trigger"])
    assert trigger["retry_policy"] == "RETRY_POLICY_RETRY"


def test_storage_triggers_sit_in_the_source_buckets_location_and_watch_only_that_bucket() -> None:
    tf = terraform()
    trigger = single(tf.resource(FUNCTION, "on_storage_event")["event_trigger"])
    assert trigger["trigger_region"] == "${local.trigger_region}"
    assert tf.locals["trigger_region"] == "${lower(data.google_storage_bucket.source.location)}"
    assert tf.data[("google_storage_bucket", "source")]["name"] == "${var.source_bucket}"
    assert trigger["event_filters"] == [{"attribute": "bucket", "value": "${var.source_bucket}"}]


def test_storage_events_are_delivered_as_the_trigger_service_account() -> None:
    trigger = single(terraform().resource(FUNCTION, "on_storage_event")["event_trigger"])
    assert trigger["service_account_email"] == "${google_service_account.trigger.email}"


def test_sweep_and_status_are_http_functions_with_their_own_entry_points() -> None:
    for name in ("sweep", "status"):
        function = terraform().resource(FUNCTION, name)
        assert "event_trigger" not in function, f"{name} must be an HTTP function"
        assert single(function["build_config"])["entry_point"] == name


def test_every_function_runs_python_311_as_the_runtime_service_account() -> None:
    assert set(functions()) == {"on_storage_event", "sweep", "status"}
    for name, function in functions().items():
        assert single(function["build_config"])["runtime"] == "python311", name
        service = single(function["service_config"])
        assert service["service_account_email"] == "${google_service_account.runtime.email}"


def test_only_the_status_page_accepts_traffic_from_outside_google() -> None:
    ingress = {
        name: single(function["service_config"])["ingress_settings"]
        for name, function in functions().items()
    }
    assert ingress == {
        "on_storage_event": "ALLOW_INTERNAL_ONLY",
        "sweep": "ALLOW_INTERNAL_ONLY",
        "status": "ALLOW_ALL",
    }


def test_nothing_is_public_and_no_basic_role_is_granted() -> None:
    # Members from variables are checked by their validations (test below).
    resources = json.dumps(list(terraform().resources.values()))
    assert "allUsers" not in resources
    assert "allAuthenticatedUsers" not in resources
    for type_, name, body in grants():
        assert body["role"] not in {"roles/owner", "roles/editor", "roles/viewer"}, name
        assert type_ in IAM_TYPES, f"{type_}.{name}: a binding or policy would replace others"


def test_http_functions_are_invoked_only_by_the_scheduler_and_the_named_status_readers() -> None:
    invokers = terraform().of_type("google_cloud_run_v2_service_iam_member")
    by_service = {body["name"]: body["member"] for body in invokers.values()}
    assert by_service["${google_cloudfunctions2_function.sweep.name}"] == SCHEDULER_SA
    assert by_service["${google_cloudfunctions2_function.status.name}"] == "${each.value}"
    assert invokers["people_read_status"]["for_each"] == "${toset(var.status_invokers)}"
    assert all(body["role"] == "roles/run.invoker" for body in invokers.values())


def test_status_readers_cannot_include_the_public() -> None:
    validation = single(terraform().variables["status_invokers"]["validation"])
    assert "allUsers" in validation["condition"]
    assert "allAuthenticatedUsers" in validation["condition"]
    assert terraform().default("status_invokers") == []


def test_runtime_service_account_gets_firestore_source_read_and_manifest_write_only() -> None:
    runtime = {
        (type_, body["role"], body.get("bucket", body.get("project")))
        for type_, _, body in grants()
        if body["member"] == RUNTIME_SA
    }
    assert runtime == {
        ("google_project_iam_member", "roles/datastore.user", "${var.project_id}"),
        ("google_storage_bucket_iam_member", "roles/storage.objectViewer", "${var.source_bucket}"),
        (
            "google_storage_bucket_iam_member",
            "roles/storage.objectUser",
            "${local.manifest_bucket}",
        ),
    }


def test_manifest_writes_are_limited_to_the_manifest_prefix() -> None:
    grant = terraform().resource("google_storage_bucket_iam_member", "runtime_writes_manifests")
    expression = single(grant["condition"])["expression"]
    assert expression == (
        'resource.name.startsWith("projects/_/buckets/${local.manifest_bucket}'
        '/objects/${var.manifest_prefix}")'
    )
    assert terraform().locals["manifest_bucket"] == (
        "${coalesce(var.manifest_bucket, var.source_bucket)}"
    )


def test_trigger_service_account_receives_events_and_invokes_only_the_event_functions() -> None:
    trigger = [(type_, body) for type_, _, body in grants() if body["member"] == TRIGGER_SA]
    roles = sorted((type_, body["role"]) for type_, body in trigger)
    assert roles == [
        ("google_cloud_run_v2_service_iam_member", "roles/run.invoker"),
        ("google_project_iam_member", "roles/eventarc.eventReceiver"),
    ]
    invoker = next(body for type_, body in trigger if body["role"] == "roles/run.invoker")
    assert invoker["for_each"] == "${google_cloudfunctions2_function.on_storage_event}"


def test_cloud_storage_service_agent_may_publish_events_to_pubsub() -> None:
    tf = terraform()
    grant = tf.resource("google_project_iam_member", "storage_agent_publishes_events")
    assert grant["role"] == "roles/pubsub.publisher"
    assert grant["member"] == (
        "serviceAccount:${data.google_storage_project_service_account.storage_agent.email_address}"
    )
    assert ("google_storage_project_service_account", "storage_agent") in tf.data
    # Eventarc refuses to create a storage trigger until that grant exists.
    depends = tf.resource(FUNCTION, "on_storage_event")["depends_on"]
    assert "${google_project_iam_member.storage_agent_publishes_events}" in depends


def test_pubsub_may_sign_tokens_only_as_the_trigger_service_account() -> None:
    grant = terraform().resource("google_service_account_iam_member", "pubsub_signs_as_trigger")
    assert grant["service_account_id"] == "${google_service_account.trigger.name}"
    assert grant["role"] == "roles/iam.serviceAccountTokenCreator"
    assert grant["member"].endswith("@gcp-sa-pubsub.iam.gserviceaccount.com")


def test_scheduler_posts_to_sweep_with_an_oidc_token_of_the_scheduler_account() -> None:
    job = terraform().resource("google_cloud_scheduler_job", "sweep")
    target = single(job["http_target"])
    sweep_url = "${google_cloudfunctions2_function.sweep.service_config[0].uri}"
    assert target["http_method"] == "POST"
    assert target["uri"] == sweep_url
    token = single(target["oidc_token"])
    assert token == {
        "service_account_email": "${google_service_account.scheduler.email}",
        "audience": sweep_url,
    }


def test_sweep_runs_every_few_minutes_well_within_the_max_age() -> None:
    assert terraform().resource("google_cloud_scheduler_job", "sweep")["schedule"] == (
        "${var.sweep_schedule}"
    )
    minutes = re.fullmatch(r"\*/(\d+) \* \* \* \*", terraform().default("sweep_schedule"))
    assert minutes, "the default schedule should be every N minutes"
    assert int(minutes.group(1)) * 60 <= terraform().default("max_age_seconds") / 2


def test_sweep_may_run_as_long_as_its_function_before_scheduler_gives_up() -> None:
    job = terraform().resource("google_cloud_scheduler_job", "sweep")
    sweep = single(terraform().resource(FUNCTION, "sweep")["service_config"])
    assert int(job["attempt_deadline"].removesuffix("s")) >= sweep["timeout_seconds"]


def test_every_function_gets_the_complete_settings() -> None:
    env = terraform().locals["function_env"]
    assert env["GOOGLE_CLOUD_PROJECT"] == "${var.project_id}"
    public_settings = {
        "REGISTRATION_BATCH_IMAGES", "REGISTRATION_BATCH_VIDEOS", "REGISTRATION_BATCH_AUDIO",
        "REGISTRATION_BATCH_PDFS", "REGISTRATION_BATCH_TEXT", "REGISTRATION_BATCH_NIFTI",
        "REGISTRATION_BATCH_IMAGE_GROUPS", "REGISTRATION_BATCH_DICOM_SERIES",
        "REGISTRATION_MANIFEST_BUCKET", "REGISTRATION_MANIFEST_PREFIX",
        "REGISTRATION_MAX_AGE_SECONDS", "REGISTRATION_IMAGE_GROUP_PREFIXES",
        "REGISTRATION_IMAGE_SEQUENCE_PREFIXES", "REGISTRATION_GROUP_QUIET_SECONDS",
        "REGISTRATION_URL_STYLE", "REGISTRATION_MANIFEST_FORMAT",
    }  # fmt: skip
    assert public_settings <= set(env)
    assert env["REGISTRATION_MANIFEST_BUCKET"] == "${local.manifest_bucket}"
    for name, function in functions().items():
        assert single(function["service_config"])["environment_variables"] == (
            "${local.function_env}"
        ), name


def test_every_setting_passed_is_one_the_function_reads() -> None:
    readable = {env_name(field) for field in Settings.model_fields}
    passed = {name for name in terraform().locals["function_env"] if name != "GOOGLE_CLOUD_PROJECT"}
    assert passed <= readable, passed - readable


def test_default_settings_are_the_functions_own_defaults() -> None:
    tf = terraform()
    batch_type = tf.variables["batch_sizes"]["type"]
    batch_defaults = {
        key: int(size) for key, size in re.findall(r"(\w+) = optional\(number, (\d+)\)", batch_type)
    }
    fields = Settings.model_fields
    expected_batches = {
        name.removeprefix("batch_"): field.default
        for name, field in fields.items()
        if name.startswith("batch_")
    }
    assert batch_defaults == expected_batches
    for variable in ("manifest_prefix", "max_age_seconds", "group_quiet_seconds", "url_style"):
        assert tf.default(variable) == fields[variable].default, variable
    assert tf.default("manifest_format") == fields["manifest_format"].default
    assert tf.default("image_group_prefixes") == list(fields["image_group_prefixes"].default)


def test_firestore_has_indexes_for_pending_objects_in_both_orders() -> None:
    indexes = terraform().of_type("google_firestore_index")
    shapes = {
        (
            body["collection"],
            body["query_scope"],
            tuple((field["field_path"], field["order"]) for field in body["fields"]),
        )
        for body in indexes.values()
    }
    assert shapes == {
        ("objects", "COLLECTION", (("state", "ASCENDING"), ("created_at", "ASCENDING"))),
        ("objects", "COLLECTION", (("state", "ASCENDING"), ("created_at", "DESCENDING"))),
    }
    assert all(body["database"] == "(default)" for body in indexes.values())


def test_rejection_records_expire_through_a_ttl_on_an_unindexed_field() -> None:
    field = terraform().resource("google_firestore_field", "rejections_expire")
    assert (field["collection"], field["field"]) == ("rejections", "expire_at")
    assert field["ttl_config"] == [{}]
    assert field["index_config"] == [{}]  # an empty index_config removes the indexes


def test_a_created_firestore_database_is_native_and_survives_destroy() -> None:
    database = terraform().resource("google_firestore_database", "default")
    assert database["name"] == "(default)"
    assert database["type"] == "FIRESTORE_NATIVE"
    assert database["deletion_policy"] == "ABANDON"
    assert terraform().default("create_firestore_database") is False


def test_functions_are_built_from_an_upload_named_after_its_content() -> None:
    upload = terraform().resource("google_storage_bucket_object", "function_source")
    assert "${filemd5(var.source_archive)}" in upload["name"]
    for name, function in functions().items():
        source = single(single(single(function["build_config"])["source"])["storage_source"])
        assert source["object"] == "${google_storage_bucket_object.function_source.name}", name


def test_source_bucket_is_private_and_keeps_old_versions_for_rollback() -> None:
    bucket = terraform().resource("google_storage_bucket", "function_source")
    assert bucket["uniform_bucket_level_access"] is True
    assert bucket["public_access_prevention"] == "enforced"
    assert single(bucket["versioning"])["enabled"] is True


def test_apis_stay_enabled_when_this_is_destroyed() -> None:
    service = terraform().resource("google_project_service", "required")
    assert service["disable_on_destroy"] is False


def test_terraform_files_are_formatted() -> None:
    # terraform is not part of the CI setup (it could not download the provider here
    # anyway), so formatting is checked only where the binary happens to be installed.
    binary = shutil.which("terraform")
    if binary is None:
        pytest.skip("terraform is not installed")
    result = subprocess.run(
        [binary, "fmt", "-check", "-diff", str(TERRAFORM)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout
