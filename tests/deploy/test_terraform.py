"""The Terraform in deploy/terraform, parsed (no terraform binary or GCP access needed)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from registration.adapters.firestore.indexes import (
    COLLECTION_GROUP_INDEXES,
    COMPOSITE_INDEXES,
    SINGLE_FIELD,
)
from registration.config import Settings, env_name
from tests.deploy.tools import (
    TERRAFORM,
    UPCOMING_SETTINGS,
    Block,
    resolve,
    single,
    terraform,
)

FUNCTION = "google_cloudfunctions2_function"
STORAGE_EVENTS = {
    "google.cloud.storage.object.v1.finalized",
    "google.cloud.storage.object.v1.deleted",
}
RUNTIME_SA = "serviceAccount:${google_service_account.runtime.email}"
STATUS_SA = "serviceAccount:${google_service_account.status.email}"
TRIGGER_SA = "serviceAccount:${google_service_account.trigger.email}"
SCHEDULER_SA = "serviceAccount:${google_service_account.scheduler.email}"
IAM_TYPES = (
    "google_project_iam_member",
    "google_storage_bucket_iam_member",
    "google_service_account_iam_member",
    "google_cloud_run_v2_service_iam_member",
    "google_secret_manager_secret_iam_member",
    "google_pubsub_topic_iam_member",
)
BASIC_ROLES = {"roles/owner", "roles/editor", "roles/viewer"}
PUBLIC_MEMBERS = {"allUsers", "allAuthenticatedUsers"}
DATABASE_CONDITION = (
    'resource.name == "projects/${var.project_id}/databases/${var.firestore_database}"'
)
ENCORD_ENV = {
    "REGISTRATION_ENCORD_FOLDER", "REGISTRATION_ENCORD_DATASET", "REGISTRATION_ENCORD_INTEGRATION",
    "REGISTRATION_ENCORD_DOMAIN", "REGISTRATION_ENCORD_IGNORE_ERRORS",
    "REGISTRATION_ENCORD_DATASETS", "REGISTRATION_ENCORD_ON_DELETE",
    "REGISTRATION_ENCORD_ON_OVERWRITE", "REGISTRATION_NOTIFY_TOPIC",
}  # fmt: skip


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


def test_flushing_functions_run_as_the_runtime_account_and_status_as_its_own() -> None:
    assert set(functions()) == {"on_storage_event", "sweep", "status", "reconcile"}
    accounts = {}
    for name, function in functions().items():
        assert single(function["build_config"])["runtime"] == "python311", name
        accounts[name] = single(function["service_config"])["service_account_email"]
    assert accounts == {
        "on_storage_event": "${google_service_account.runtime.email}",
        "sweep": "${google_service_account.runtime.email}",
        "status": "${google_service_account.status.email}",
        "reconcile": "${google_service_account.runtime.email}",
    }


def test_only_the_status_page_accepts_traffic_from_outside_google() -> None:
    ingress = {
        name: single(function["service_config"])["ingress_settings"]
        for name, function in functions().items()
    }
    assert ingress == {
        "on_storage_event": "ALLOW_INTERNAL_ONLY",
        "sweep": "ALLOW_INTERNAL_ONLY",
        "status": "ALLOW_ALL",
        "reconcile": "ALLOW_INTERNAL_ONLY",
    }


def test_nothing_is_public_and_no_basic_role_is_granted() -> None:
    # Members from variables are checked by their validations (test below).
    # Anywhere outside variables.tf (whose validation names the public members to refuse them).
    for path in sorted(TERRAFORM.glob("*.tf")):
        if path.name != "variables.tf":
            for word in (*PUBLIC_MEMBERS, *BASIC_ROLES):
                assert f'"{word}"' not in path.read_text(), f"{path.name}: {word}"
    resources = json.dumps(list(terraform().resources.values()))
    assert "allUsers" not in resources
    assert "allAuthenticatedUsers" not in resources
    iam = {
        (type_, name): body
        for (type_, name), body in terraform().resources.items()
        if "_iam_" in type_ or type_.endswith("_iam")
    }
    assert len(iam) == len(grants()) >= 11, "every IAM resource grants a role"
    for (type_, name), body in iam.items():
        assert type_ in IAM_TYPES, f"{type_}.{name}: a binding or policy would replace others"
        assert body["role"] not in BASIC_ROLES, name
        assert body["role"].startswith("roles/"), name
        members = body.get("members", [body.get("member")])
        assert not PUBLIC_MEMBERS & set(members), name
        assert all(m == "${each.value}" or m.startswith("serviceAccount:") for m in members), name


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


def test_runtime_service_account_gets_firestore_source_read_manifest_write_and_the_key() -> None:
    runtime = {
        (
            type_,
            body["role"],
            body.get("bucket", body.get("secret_id", body.get("topic", body.get("project")))),
        )
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
        (
            "google_secret_manager_secret_iam_member",
            "roles/secretmanager.secretAccessor",
            "${google_secret_manager_secret.encord_ssh_key[0].secret_id}",
        ),
        (
            "google_pubsub_topic_iam_member",
            "roles/pubsub.publisher",
            "${google_pubsub_topic.job_notifications[0].name}",
        ),
    }


def test_status_runs_as_its_own_account_that_can_only_read_firestore() -> None:
    status = [(type_, body) for type_, _, body in grants() if body["member"] == STATUS_SA]
    assert [(type_, body["role"]) for type_, body in status] == [
        ("google_project_iam_member", "roles/datastore.viewer")
    ]
    assert single(status[0][1]["condition"])["expression"] == DATABASE_CONDITION
    account = terraform().resource("google_service_account", "status")
    assert account["account_id"] == "${var.name_prefix}-status"
    # status needs no Encord settings and never sees the key.
    service = single(terraform().resource(FUNCTION, "status")["service_config"])
    assert service["environment_variables"] == "${local.function_env}"
    assert "dynamic" not in service and "secret_environment_variables" not in service


def test_firestore_roles_are_limited_to_the_products_database_by_an_iam_condition() -> None:
    firestore_grants = [
        (name, body) for _, name, body in grants() if body["role"].startswith("roles/datastore.")
    ]
    assert {name for name, _ in firestore_grants} == {
        "runtime_uses_firestore",
        "status_reads_firestore",
    }
    for name, body in firestore_grants:
        assert single(body["condition"])["expression"] == DATABASE_CONDITION, name
    assert terraform().default("firestore_database") == "(default)"
    assert resolve(DATABASE_CONDITION.replace("${var.project_id}", "p")) == (
        'resource.name == "projects/p/databases/(default)"'
    )


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


def test_sweep_runs_every_minute_so_a_jobs_end_is_noticed_within_one() -> None:
    assert terraform().resource("google_cloud_scheduler_job", "sweep")["schedule"] == (
        "${var.sweep_schedule}"
    )
    assert terraform().default("sweep_schedule") == "* * * * *"
    assert terraform().default("max_age_seconds") / 2 >= 60


def test_the_deployed_sweep_polls_running_jobs_again_half_way_through_its_minute() -> None:
    # Every minute, plus a second poll 30 s in: a job's end is recorded within about 30 s.
    sweep = terraform().resource(FUNCTION, "sweep")
    assert env_of(sweep)["REGISTRATION_SWEEP_REPOLL_SECONDS"] == (
        "${tostring(var.sweep_repoll_seconds)}"
    )
    assert terraform().default("sweep_repoll_seconds") == 30
    # The second poll ends well inside the sweep's budget and before the next run starts.
    assert terraform().default("sweep_repoll_seconds") + 10 < 60


def test_sweep_may_run_as_long_as_its_function_before_scheduler_gives_up() -> None:
    job = terraform().resource("google_cloud_scheduler_job", "sweep")
    sweep = single(terraform().resource(FUNCTION, "sweep")["service_config"])
    assert int(job["attempt_deadline"].removesuffix("s")) >= resolve(sweep["timeout_seconds"])


def env_of(function: Block) -> dict[str, str]:
    """The environment a function gets, with every Encord variable set (a target configured)."""
    name = single(function["service_config"])["environment_variables"]
    env = dict(terraform().locals["function_env"])
    if name == "${local.flush_env}":
        assert terraform().locals["flush_env"] == "${merge(local.function_env, local.encord_env)}"
        env.update(terraform().locals["encord_settings"])
    else:
        assert name == "${local.function_env}"
    return env


def test_every_flushing_function_holds_its_lease_longer_than_its_timeout() -> None:
    # A flush past the lease could be taken over by another instance while still running;
    # lease > timeout makes that rare. (Not impossible: Cloud Run may keep running a request
    # past its timeout, which is why every later write is fenced, domain/batch_lifecycle.py.)
    for name in ("on_storage_event", "sweep"):
        function = terraform().resource(FUNCTION, name)
        timeout = resolve(single(function["service_config"])["timeout_seconds"])
        lease = resolve(terraform().locals["lease_seconds"])
        assert isinstance(timeout, int) and timeout >= 60, name
        assert env_of(function)["REGISTRATION_LEASE_SECONDS"] == "${tostring(local.lease_seconds)}"
        assert lease > timeout, f"{name}: lease {lease} s, timeout {timeout} s"
    assert terraform().locals["lease_seconds"] == "${local.flush_timeout_seconds + 60}"


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
    assert env["REGISTRATION_LEASE_SECONDS"] == "${tostring(local.lease_seconds)}"
    assert env["REGISTRATION_RECORD_RETENTION_DAYS"] == "${tostring(var.record_retention_days)}"
    expected = {
        "on_storage_event": "flush_env",
        "sweep": "flush_env",
        "status": "function_env",
        "reconcile": "reconcile_env",
    }
    for name, function in functions().items():
        assert single(function["service_config"])["environment_variables"] == (
            "${local." + expected[name] + "}"
        ), name


def test_encord_settings_reach_only_the_flushing_functions_and_only_with_a_target() -> None:
    tf = terraform()
    assert set(tf.locals["encord_settings"]) == ENCORD_ENV
    assert not ENCORD_ENV & set(tf.locals["function_env"])
    assert "if local.encord_enabled" in tf.locals["encord_env"]
    assert tf.locals["encord_enabled"] == '${var.encord_folder != "" || var.encord_dataset != ""}'
    for name in ("on_storage_event", "sweep"):
        assert set(env_of(tf.resource(FUNCTION, name))) >= ENCORD_ENV, name
    assert not ENCORD_ENV & set(env_of(tf.resource(FUNCTION, "status")))
    defaults = {name: tf.default(name) for name in (
        "encord_folder", "encord_dataset", "encord_integration", "encord_domain",
        "encord_ignore_errors", "encord_datasets", "encord_on_delete", "encord_on_overwrite",
        "notify_topic")}  # fmt: skip
    assert defaults == {
        "encord_folder": "",
        "encord_dataset": "",
        "encord_integration": "",
        "encord_domain": "https://api.encord.com",
        "encord_ignore_errors": True,
        "encord_datasets": [],
        "encord_on_delete": "report",
        "encord_on_overwrite": "report",
        "notify_topic": "",
    }
    fields = Settings.model_fields
    assert fields["encord_on_delete"].default == tf.default("encord_on_delete")
    assert fields["encord_on_overwrite"].default == tf.default("encord_on_overwrite")


def test_an_encord_target_needs_an_integration_and_only_one_of_folder_and_dataset() -> None:
    checks = terraform().resource(FUNCTION, "sweep")["lifecycle"][0]["precondition"]
    conditions = {check["condition"] for check in checks}
    assert '${var.encord_folder == "" || var.encord_dataset == ""}' in conditions
    assert '${!local.encord_enabled || var.encord_integration != ""}' in conditions


def test_the_encord_key_is_a_secret_mounted_in_the_flushing_functions_only() -> None:
    tf = terraform()
    secret = tf.resource("google_secret_manager_secret", "encord_ssh_key")
    assert secret["count"] == "${local.encord_enabled ? 1 : 0}"
    assert "secret_data" not in json.dumps(tf.of_type("google_secret_manager_secret_version"))
    assert not tf.of_type("google_secret_manager_secret_version"), "the key never enters state"
    access = tf.resource("google_secret_manager_secret_iam_member", "runtime_reads_encord_key")
    assert access["count"] == "${local.encord_enabled ? 1 : 0}"
    assert access["role"] == "roles/secretmanager.secretAccessor"
    assert access["member"] == RUNTIME_SA
    assert access["secret_id"] == "${google_secret_manager_secret.encord_ssh_key[0].secret_id}"
    # Never a project-wide grant of secret access.
    for _, name, body in grants():
        if body["role"].startswith("roles/secretmanager."):
            assert "secret_id" in body, name
    for name in ("on_storage_event", "sweep"):
        service = single(tf.resource(FUNCTION, name)["service_config"])
        (dynamic,) = service["dynamic"]
        block = dynamic["secret_environment_variables"]
        assert block["for_each"] == "${google_secret_manager_secret.encord_ssh_key}"
        content = single(block["content"])
        assert content["key"] == "ENCORD_SSH_KEY"
        assert content["secret"] == "${secret_environment_variables.value.secret_id}"
        assert content["version"] == "latest"
        depends = tf.resource(FUNCTION, name)["depends_on"]
        assert "${google_secret_manager_secret_iam_member.runtime_reads_encord_key}" in depends


def test_after_registration_settings_follow_the_functions_own_rules() -> None:
    checks = terraform().resource(FUNCTION, "sweep")["lifecycle"][0]["precondition"]
    conditions = {check["condition"] for check in checks}
    assert (
        '${local.encord_enabled || (length(var.encord_datasets) == 0 && var.notify_topic == "")}'
        in conditions
    )
    assert (
        '${var.encord_folder != "" || (var.encord_on_delete == "report" && '
        'var.encord_on_overwrite == "report")}' in conditions
    )
    settings = terraform().locals["encord_settings"]
    assert settings["REGISTRATION_ENCORD_DATASETS"] == '${join(",", var.encord_datasets)}'
    assert settings["REGISTRATION_NOTIFY_TOPIC"] == (
        '${local.notify_enabled ? local.notify_topic_path : ""}'
    )


def test_the_notification_topic_exists_only_when_asked_for_and_with_an_encord_target() -> None:
    tf = terraform()
    assert tf.locals["notify_enabled"] == '${local.encord_enabled && var.notify_topic != ""}'
    assert tf.locals["notify_topic_path"] == "projects/${var.project_id}/topics/${var.notify_topic}"
    topic = tf.resource("google_pubsub_topic", "job_notifications")
    assert topic["count"] == "${local.notify_enabled ? 1 : 0}"
    assert (topic["project"], topic["name"]) == ("${var.project_id}", "${var.notify_topic}")
    # The topic the function is told about is the one Terraform makes.
    assert tf.locals["notify_topic_path"] == (
        "projects/" + topic["project"] + "/topics/" + topic["name"]
    )


def test_only_the_runtime_account_may_publish_job_notifications_and_only_to_that_topic() -> None:
    tf = terraform()
    on_topics = [(n, b) for t, n, b in grants() if t == "google_pubsub_topic_iam_member"]
    assert [n for n, _ in on_topics] == ["runtime_publishes_job_notifications"]
    (_, grant) = on_topics[0]
    assert grant["role"] == "roles/pubsub.publisher"
    assert grant["member"] == RUNTIME_SA
    assert grant["topic"] == "${google_pubsub_topic.job_notifications[0].name}"
    assert grant["count"] == "${local.notify_enabled ? 1 : 0}"
    # No project-wide Pub/Sub role for our accounts: other topics stay closed to them. (The
    # Cloud Storage service agent's project grant carries the storage events, iam.tf.)
    ours = {RUNTIME_SA, STATUS_SA, TRIGGER_SA, SCHEDULER_SA}
    for type_, name, body in grants():
        if body["role"].startswith("roles/pubsub.") and body["member"] in ours:
            assert type_ == "google_pubsub_topic_iam_member", name
    assert not tf.of_type("google_pubsub_topic_iam_binding")
    assert not tf.of_type("google_pubsub_topic_iam_policy")
    assert not tf.of_type("google_pubsub_subscription")
    for name in ("on_storage_event", "sweep"):
        depends = tf.resource(FUNCTION, name)["depends_on"]
        assert "${google_pubsub_topic_iam_member.runtime_publishes_job_notifications}" in depends


@pytest.mark.parametrize(
    ("variable", "values"),
    [
        ("encord_on_delete", '["report", "delete"]'),
        ("encord_on_overwrite", '["report", "replace"]'),
    ],
)
def test_the_policies_accept_only_the_values_the_function_accepts(
    variable: str, values: str
) -> None:
    condition = single(terraform().variables[variable]["validation"])["condition"]
    assert condition == "${contains(" + values + ", var." + variable + ")}"
    accepted = Settings.model_fields[variable].annotation
    assert sorted(json.loads(values)) == sorted(getattr(accepted, "__args__", ()))


def test_secret_manager_is_enabled_only_with_an_encord_target() -> None:
    apis = terraform().locals["required_apis"]
    assert 'local.encord_enabled ? ["secretmanager.googleapis.com"] : []' in apis


def test_every_setting_passed_is_one_the_function_reads() -> None:
    readable = {env_name(field) for field in Settings.model_fields} | UPCOMING_SETTINGS
    passed = {
        name
        for name in (*terraform().locals["function_env"], *terraform().locals["encord_settings"])
        if name != "GOOGLE_CLOUD_PROJECT"
    }
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


def test_terraform_declares_exactly_the_composite_indexes_the_queries_need() -> None:
    tf = terraform()
    index = tf.resource("google_firestore_index", "composite")
    assert index["for_each"] == "${local.composite_indexes}"
    assert index["query_scope"] == "COLLECTION"
    assert index["database"] == "${var.firestore_database}"
    declared = {
        (body["collection"], tuple(body["fields"]))
        for body in tf.locals["composite_indexes"].values()
    }
    assert declared == set(COMPOSITE_INDEXES)


def test_terraform_declares_exactly_the_collection_group_composites_the_queries_need() -> None:
    tf = terraform()
    index = tf.resource("google_firestore_index", "collection_group")
    assert index["for_each"] == "${local.collection_group_indexes}"
    assert index["query_scope"] == "COLLECTION_GROUP"
    declared = {
        (body["collection"], tuple(body["fields"]))
        for body in tf.locals["collection_group_indexes"].values()
    }
    assert declared == set(COLLECTION_GROUP_INDEXES)


def test_terraform_sets_every_single_field_index_the_code_declares() -> None:
    tf = terraform()
    fields = tf.of_type("google_firestore_field")
    settings: dict[tuple[str, str], tuple[str, ...]] = {}
    for body in fields.values():
        names = [body["field"]]
        if body.get("for_each"):  # for_each = toset(["a", "b"]), field = each.value
            names = re.findall(r'"([^"]+)"', body["for_each"])
        config = body["index_config"][0]
        scopes = tuple(sorted(index["query_scope"] for index in config.get("indexes", [])))
        for name in names:
            settings[(body["collection"], name)] = scopes
    for collection, field, scopes in SINGLE_FIELD:
        assert settings.get((collection, field)) == tuple(sorted(scopes)), (collection, field)


def test_rejection_records_expire_through_a_ttl_on_an_unindexed_field() -> None:
    field = terraform().resource("google_firestore_field", "rejections_expire")
    assert (field["collection"], field["field"]) == ("rejections", "expire_at")
    assert field["ttl_config"] == [{}]
    assert field["index_config"] == [{}]  # an empty index_config removes the indexes


def test_object_records_expire_only_when_a_retention_is_set() -> None:
    field = terraform().resource("google_firestore_field", "objects_expire")
    assert field["count"] == "${var.record_retention_days > 0 ? 1 : 0}"
    assert (field["collection"], field["field"]) == ("objects", "expire_at")
    assert field["database"] == "${var.firestore_database}"
    assert field["ttl_config"] == [{}]
    assert field["index_config"] == [{}]
    assert terraform().default("record_retention_days") == 0


def test_a_created_firestore_database_is_native_and_survives_destroy() -> None:
    database = terraform().resource("google_firestore_database", "default")
    assert database["name"] == "${var.firestore_database}"
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


def test_a_daily_reconcile_of_the_recent_prefixes_exists_only_when_prefixes_are_set() -> None:
    tf = terraform()
    assert tf.default("reconcile_prefixes") == []
    assert tf.locals["reconcile_enabled"] == "${length(var.reconcile_prefixes) > 0}"
    for type_, name in (
        (FUNCTION, "reconcile"),
        ("google_cloud_scheduler_job", "reconcile"),
        ("google_cloud_run_v2_service_iam_member", "scheduler_invokes_reconcile"),
    ):
        assert tf.resource(type_, name)["count"] == "${local.reconcile_enabled ? 1 : 0}", name
    function = tf.resource(FUNCTION, "reconcile")
    assert single(function["build_config"])["entry_point"] == "reconcile"
    env = tf.locals["reconcile_env"]
    assert "REGISTRATION_RECONCILE_PREFIXES" in env and "REGISTRATION_RECONCILE_BUCKET" in env
    invoker = tf.resource("google_cloud_run_v2_service_iam_member", "scheduler_invokes_reconcile")
    assert invoker["member"] == "serviceAccount:${google_service_account.scheduler.email}"
    # Its lease-relevant timeout is the flushing functions' (it may flush and submit).
    assert single(function["service_config"])["timeout_seconds"] == "${local.flush_timeout_seconds}"
