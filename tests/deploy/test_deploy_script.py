"""deploy/deploy.sh: shellcheck, and what its --dry-run says it would run."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from registration.adapters.firestore.indexes import (
    COLLECTION_GROUP_INDEXES,
    COMPOSITE_INDEXES,
    SINGLE_FIELD,
)
from registration.config import Settings, env_name
from tests.deploy.tools import DEPLOY_SCRIPT, UPCOMING_SETTINGS, require_tool, terraform

PROJECT = "acme-prod"
REQUIRED = ["--project", PROJECT, "--region", "europe-west1", "--source-bucket", "acme-images"]
RUNTIME_SA = f"serviceAccount:encord-registration-run@{PROJECT}.iam.gserviceaccount.com"
TRIGGER_SA = f"serviceAccount:encord-registration-trigger@{PROJECT}.iam.gserviceaccount.com"
SCHEDULER_SA = f"serviceAccount:encord-registration-scheduler@{PROJECT}.iam.gserviceaccount.com"
STATUS_SA = f"serviceAccount:encord-registration-status@{PROJECT}.iam.gserviceaccount.com"
ENCORD = {
    "REGISTRATION_ENCORD_FOLDER": "5b8a2f7e-3c1d-4e9a-8f60-2d7c9b1e4a35",
    "REGISTRATION_ENCORD_INTEGRATION": "acme-images-gcp",
}
SECRET = "encord-registration-encord-ssh-key"
DATABASE_CONDITION = (
    "title=registration-database-only,"
    f'expression=resource.name == "projects/{PROJECT}/databases/(default)"'
)
FLUSHING = {
    "encord-registration-finalized",
    "encord-registration-deleted",
    "encord-registration-sweep",
}


@dataclass
class DryRun:
    returncode: int
    stdout: str
    stderr: str
    gcloud_calls: str

    @property
    def commands(self) -> list[list[str]]:
        """Each printed command ("+ ..."), split as the shell would."""
        return [shlex.split(line[2:]) for line in self.stdout.splitlines() if line.startswith("+ ")]

    def gcloud(self, *words: str) -> list[list[str]]:
        """The gcloud commands that start with these words."""
        prefix = ["gcloud", *words]
        return [argv for argv in self.commands if argv[: len(prefix)] == prefix]

    def env_file(self) -> dict[str, str]:
        """The settings file the dry run would write, as printed: '#   KEY: 'value''."""
        values = {}
        for line in self.stdout.splitlines():
            match = re.fullmatch(r"#   (\w+): '(.*)'", line)
            if match:
                values[match.group(1)] = match.group(2).replace("''", "'")
        return values


def flag(argv: list[str], name: str) -> list[str]:
    """Every value of --name=VALUE in argv."""
    return [arg.split("=", 1)[1] for arg in argv if arg.startswith(f"--{name}=")]


def dry_run(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None, dry: bool = True
) -> DryRun:
    # A gcloud that records any call: a dry run must never reach it.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    calls = tmp_path / "gcloud-calls"
    fake = bin_dir / "gcloud"
    fake.write_text(f'#!/bin/sh\necho "$@" >> {shlex.quote(str(calls))}\nexit 1\n')
    fake.chmod(0o755)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRATION_")}
    environment["PATH"] = f"{bin_dir}{os.pathsep}{environment['PATH']}"
    environment.update(env or {})
    argv = ["bash", str(DEPLOY_SCRIPT), *(["--dry-run"] if dry else []), *args]
    result = subprocess.run(
        argv, capture_output=True, text=True, env=environment, timeout=60, check=False
    )
    return DryRun(
        result.returncode,
        result.stdout,
        result.stderr,
        calls.read_text() if calls.exists() else "",
    )


@pytest.fixture
def plan(tmp_path: Path) -> DryRun:
    result = dry_run(tmp_path, *REQUIRED, "--status-invoker", "group:ops@acme.example")
    assert result.returncode == 0, result.stderr
    return result


def test_deploy_script_passes_shellcheck() -> None:
    shellcheck = require_tool("shellcheck", "install it with: apt-get install -y shellcheck")
    result = subprocess.run(
        [shellcheck, str(DEPLOY_SCRIPT)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dry_run_prints_commands_and_calls_no_gcloud(plan: DryRun) -> None:
    assert plan.gcloud_calls == ""
    assert len(plan.gcloud("functions", "deploy")) == 4


def test_without_dry_run_the_script_really_calls_gcloud(tmp_path: Path) -> None:
    # The same fake gcloud fails at once; the point is that it was reached.
    result = dry_run(tmp_path, *REQUIRED, "--trigger-region", "eu", dry=False)
    assert result.returncode != 0
    assert result.gcloud_calls.startswith("services enable")


def test_on_storage_event_is_deployed_for_finalized_and_deleted_with_retries(plan: DryRun) -> None:
    deploys = [argv for argv in plan.gcloud("functions", "deploy") if "--retry" in argv]
    assert {argv[3] for argv in deploys} == {
        "encord-registration-finalized",
        "encord-registration-deleted",
    }
    events = set()
    for argv in deploys:
        assert flag(argv, "entry-point") == ["on_storage_event"]
        filters = dict(value.split("=", 1) for value in flag(argv, "trigger-event-filters"))
        assert filters["bucket"] == "acme-images"
        events.add(filters["type"])
        assert flag(argv, "trigger-service-account") == [TRIGGER_SA.split(":", 1)[1]]
        assert flag(argv, "ingress-settings") == ["internal-only"]
    assert events == {
        "google.cloud.storage.object.v1.finalized",
        "google.cloud.storage.object.v1.deleted",
    }


def test_trigger_location_is_the_source_buckets_location(tmp_path: Path) -> None:
    looked_up = dry_run(tmp_path, *REQUIRED)
    assert looked_up.gcloud("storage", "buckets", "describe")[0][4] == "gs://acme-images"
    given = dry_run(tmp_path, *REQUIRED, "--trigger-region", "EUROPE-WEST1")
    assert not given.gcloud("storage", "buckets", "describe")
    for argv in given.gcloud("functions", "deploy"):
        if "--retry" in argv:
            assert flag(argv, "trigger-location") == ["europe-west1"]


def test_sweep_and_status_are_private_http_functions(plan: DryRun) -> None:
    http = {
        argv[3]: argv for argv in plan.gcloud("functions", "deploy") if "--trigger-http" in argv
    }
    assert set(http) == {"encord-registration-sweep", "encord-registration-status"}
    for name, argv in http.items():
        assert "--no-allow-unauthenticated" in argv, name
        assert "--retry" not in argv
    assert flag(http["encord-registration-sweep"], "entry-point") == ["sweep"]
    assert flag(http["encord-registration-status"], "entry-point") == ["status"]
    assert flag(http["encord-registration-sweep"], "ingress-settings") == ["internal-only"]
    assert "--allow-unauthenticated" not in plan.stdout
    assert "allUsers" not in plan.stdout
    assert "allAuthenticatedUsers" not in plan.stdout


def test_flushing_functions_run_as_the_runtime_account_and_status_as_its_own(
    plan: DryRun,
) -> None:
    accounts = {}
    for argv in plan.gcloud("functions", "deploy"):
        assert flag(argv, "runtime") == ["python311"]
        assert "--gen2" in argv
        (accounts[argv[3]],) = flag(argv, "service-account")
    assert accounts == {
        **{name: RUNTIME_SA.split(":", 1)[1] for name in FLUSHING},
        "encord-registration-status": STATUS_SA.split(":", 1)[1],
    }


def grants_of(plan: DryRun) -> set[tuple[str, str, str]]:
    """(target, member, role) of every IAM grant the script makes."""
    grants = set()
    for argv in plan.commands:
        if "add-iam-policy-binding" in argv:
            index = argv.index("add-iam-policy-binding")
            target = argv[index + 1]
            (member,) = flag(argv, "member")
            (role,) = flag(argv, "role")
            grants.add((target, member, role))
    return grants


def test_each_account_gets_only_the_roles_it_needs(plan: DryRun) -> None:
    storage_agent = (
        "serviceAccount:service-PROJECT_NUMBER@gs-project-accounts.iam.gserviceaccount.com"
    )
    pubsub_agent = "serviceAccount:service-PROJECT_NUMBER@gcp-sa-pubsub.iam.gserviceaccount.com"
    assert grants_of(plan) == {
        (PROJECT, RUNTIME_SA, "roles/datastore.user"),
        (PROJECT, STATUS_SA, "roles/datastore.viewer"),
        ("gs://acme-images", RUNTIME_SA, "roles/storage.objectViewer"),
        ("gs://acme-images", RUNTIME_SA, "roles/storage.objectUser"),
        (PROJECT, TRIGGER_SA, "roles/eventarc.eventReceiver"),
        (PROJECT, storage_agent, "roles/pubsub.publisher"),
        (TRIGGER_SA.split(":", 1)[1], pubsub_agent, "roles/iam.serviceAccountTokenCreator"),
        ("encord-registration-finalized", TRIGGER_SA, "roles/run.invoker"),
        ("encord-registration-deleted", TRIGGER_SA, "roles/run.invoker"),
        ("encord-registration-sweep", SCHEDULER_SA, "roles/run.invoker"),
        ("encord-registration-status", "group:ops@acme.example", "roles/run.invoker"),
    }


def test_the_script_and_terraform_grant_the_same_roles(tmp_path: Path) -> None:
    everything = dry_run(
        tmp_path, *REQUIRED, "--status-invoker", "group:ops@acme.example", env=ENCORD
    )
    script_roles = {role for _, _, role in grants_of(everything)}
    terraform_roles = {body["role"] for body in terraform().resources.values() if "role" in body}
    assert script_roles == terraform_roles


def test_status_account_can_only_read_firestore(plan: DryRun) -> None:
    status = {(target, role) for target, member, role in grants_of(plan) if member == STATUS_SA}
    assert status == {(PROJECT, "roles/datastore.viewer")}


def test_firestore_roles_are_limited_to_the_products_database(plan: DryRun) -> None:
    firestore = [
        argv
        for argv in plan.gcloud("projects", "add-iam-policy-binding")
        if flag(argv, "role")[0].startswith("roles/datastore.")
    ]
    assert len(firestore) == 2
    for argv in firestore:
        assert flag(argv, "condition") == [DATABASE_CONDITION]


def all_options_plan(tmp_path: Path) -> DryRun:
    result = dry_run(
        tmp_path,
        *REQUIRED,
        "--status-invoker", "group:ops@acme.example",
        "--status-invoker", "user:ana@acme.example",
        "--manifest-bucket", "acme-manifests",
        env={**ENCORD, "REGISTRATION_RECORD_RETENTION_DAYS": "90"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result


def test_no_grant_of_the_script_is_public_or_a_basic_role(tmp_path: Path) -> None:
    result = all_options_plan(tmp_path)
    grants = grants_of(result)
    assert len(grants) >= 13
    for target, member, role in grants:
        assert member not in ("allUsers", "allAuthenticatedUsers"), target
        assert role not in ("roles/owner", "roles/editor", "roles/viewer"), target
    text = DEPLOY_SCRIPT.read_text()
    for role in ("roles/owner", "roles/editor", "roles/viewer"):
        assert role not in text
    # Secret access is granted on the one secret, never on the project.
    secret_grants = [(t, m) for t, m, r in grants if r == "roles/secretmanager.secretAccessor"]
    assert secret_grants == [(SECRET, RUNTIME_SA)]


def test_the_sweep_polls_running_jobs_again_30_seconds_in_unless_told_otherwise(
    plan: DryRun,
) -> None:
    assert plan.env_file()["REGISTRATION_SWEEP_REPOLL_SECONDS"] == "30"


def test_every_flushing_function_gets_a_lease_longer_than_its_timeout(plan: DryRun) -> None:
    lease = int(plan.env_file()["REGISTRATION_LEASE_SECONDS"])
    deploys = {argv[3]: argv for argv in plan.gcloud("functions", "deploy")}
    for name in FLUSHING:
        (timeout,) = flag(deploys[name], "timeout")
        assert flag(deploys[name], "env-vars-file")[0].endswith("/function-env.yaml")
        assert lease > int(timeout.removesuffix("s")), name


def test_a_lease_no_longer_than_the_timeout_is_refused(tmp_path: Path) -> None:
    result = dry_run(tmp_path, *REQUIRED, env={"REGISTRATION_LEASE_SECONDS": "120"})
    assert result.returncode == 2
    assert "REGISTRATION_LEASE_SECONDS must be more than" in result.stderr
    longer = dry_run(tmp_path, *REQUIRED, env={"REGISTRATION_LEASE_SECONDS": "900"})
    assert longer.env_file()["REGISTRATION_LEASE_SECONDS"] == "900"


def test_an_encord_target_mounts_the_key_from_secret_manager_in_the_flushing_functions(
    tmp_path: Path,
) -> None:
    result = dry_run(tmp_path, *REQUIRED, env=ENCORD)
    assert result.returncode == 0, result.stderr
    assert result.gcloud_calls == ""
    enable = ["gcloud", "services", "enable", f"--project={PROJECT}"]
    assert [*enable, "secretmanager.googleapis.com"] in result.commands
    (create,) = result.gcloud("secrets", "create")
    assert create[3] == SECRET
    assert "--data-file" not in " ".join(create), "the key is added by the operator"
    deploys = {argv[3]: argv for argv in result.gcloud("functions", "deploy")}
    for name in FLUSHING:
        assert flag(deploys[name], "set-secrets") == [f"ENCORD_SSH_KEY={SECRET}:latest"], name
    status = deploys["encord-registration-status"]
    assert not flag(status, "set-secrets")
    assert flag(status, "env-vars-file")[0].endswith("/status-env.yaml")
    assert result.env_file()["REGISTRATION_ENCORD_FOLDER"] == ENCORD["REGISTRATION_ENCORD_FOLDER"]
    assert "gcloud secrets versions add" in result.stdout  # what a real run would ask for


def test_without_an_encord_target_no_secret_is_created_or_mounted(plan: DryRun) -> None:
    assert not plan.gcloud("secrets")
    assert "secretmanager" not in plan.stdout
    assert "--set-secrets" not in plan.stdout
    assert not any(key.startswith("REGISTRATION_ENCORD_") for key in plan.env_file())


@pytest.mark.parametrize(
    ("env", "error"),
    [
        ({"REGISTRATION_ENCORD_FOLDER": "f"}, "REGISTRATION_ENCORD_INTEGRATION"),
        ({**ENCORD, "REGISTRATION_ENCORD_DATASET": "d"}, "not both"),
    ],
)
def test_an_incomplete_or_double_encord_target_is_refused(
    tmp_path: Path, env: dict[str, str], error: str
) -> None:
    result = dry_run(tmp_path, *REQUIRED, env=env)
    assert result.returncode == 2
    assert error in result.stderr


def test_a_notification_topic_is_created_and_only_the_runtime_account_may_publish_to_it(
    tmp_path: Path,
) -> None:
    env = {
        **ENCORD,
        "REGISTRATION_NOTIFY_TOPIC": "job-ends",
        "REGISTRATION_ENCORD_DATASETS": "ds-1",
    }
    result = dry_run(tmp_path, *REQUIRED, env=env)
    assert result.returncode == 0, result.stderr
    assert result.gcloud_calls == ""
    (create,) = result.gcloud("pubsub", "topics", "create")
    assert create[4:6] == ["job-ends", f"--project={PROJECT}"]
    (grant,) = result.gcloud("pubsub", "topics", "add-iam-policy-binding")
    assert grant[4] == "job-ends"
    assert flag(grant, "member") == [RUNTIME_SA]
    assert flag(grant, "role") == ["roles/pubsub.publisher"]
    # Nothing else is granted on Pub/Sub to our accounts, and nothing at all to the public.
    ours = {RUNTIME_SA, STATUS_SA, TRIGGER_SA, SCHEDULER_SA}
    for argv in result.commands:
        members = set(flag(argv, "member"))
        assert not members & {"allUsers", "allAuthenticatedUsers"}, argv
        if members & ours and any(r.startswith("roles/pubsub.") for r in flag(argv, "role")):
            assert argv[:4] == ["gcloud", "pubsub", "topics", "add-iam-policy-binding"], argv
    assert not result.gcloud("pubsub", "subscriptions")
    settings = result.env_file()
    assert settings["REGISTRATION_NOTIFY_TOPIC"] == "job-ends"
    assert settings["REGISTRATION_ENCORD_DATASETS"] == "ds-1"


def test_a_topic_of_another_project_is_made_and_granted_there(tmp_path: Path) -> None:
    topic = "projects/acme-events/topics/registration-jobs"
    result = dry_run(tmp_path, *REQUIRED, env={**ENCORD, "REGISTRATION_NOTIFY_TOPIC": topic})
    assert result.returncode == 0, result.stderr
    (create,) = result.gcloud("pubsub", "topics", "create")
    assert create[4:6] == ["registration-jobs", "--project=acme-events"]
    (grant,) = result.gcloud("pubsub", "topics", "add-iam-policy-binding")
    assert grant[4:6] == ["registration-jobs", "--project=acme-events"]
    assert result.env_file()["REGISTRATION_NOTIFY_TOPIC"] == topic


def test_without_a_topic_nothing_is_made_on_pubsub(plan: DryRun) -> None:
    assert not plan.gcloud("pubsub")
    assert "REGISTRATION_NOTIFY_TOPIC" not in plan.env_file()


def test_status_gets_no_after_registration_settings(tmp_path: Path) -> None:
    env = {
        **ENCORD,
        "REGISTRATION_NOTIFY_TOPIC": "job-ends",
        "REGISTRATION_ENCORD_ON_DELETE": "delete",
    }
    result = dry_run(tmp_path, *REQUIRED, env=env)
    assert result.returncode == 0, result.stderr
    script = DEPLOY_SCRIPT.read_text()
    assert "grep -v -e '^REGISTRATION_ENCORD_' -e '^REGISTRATION_NOTIFY_'" in script
    assert result.env_file()["REGISTRATION_ENCORD_ON_DELETE"] == "delete"


@pytest.mark.parametrize(
    ("env", "error"),
    [
        ({"REGISTRATION_NOTIFY_TOPIC": "job-ends"}, "needs an Encord target"),
        ({"REGISTRATION_ENCORD_DATASETS": "ds-1"}, "needs an Encord target"),
        ({**ENCORD, "REGISTRATION_NOTIFY_TOPIC": "goog-x"}, "REGISTRATION_NOTIFY_TOPIC"),
        ({**ENCORD, "REGISTRATION_NOTIFY_TOPIC": "projects/p/subs/x"}, "REGISTRATION_NOTIFY_TOPIC"),
        ({**ENCORD, "REGISTRATION_ENCORD_ON_DELETE": "remove"}, "report or delete"),
        ({**ENCORD, "REGISTRATION_ENCORD_ON_OVERWRITE": "delete"}, "report or replace"),
        (
            {
                "REGISTRATION_ENCORD_DATASET": "legacy",
                "REGISTRATION_ENCORD_INTEGRATION": "gcs",
                "REGISTRATION_ENCORD_ON_DELETE": "delete",
            },
            "needs REGISTRATION_ENCORD_FOLDER",
        ),
        (
            {
                "REGISTRATION_ENCORD_DATASET": "legacy",
                "REGISTRATION_ENCORD_INTEGRATION": "gcs",
                "REGISTRATION_ENCORD_ON_OVERWRITE": "replace",
            },
            "needs REGISTRATION_ENCORD_FOLDER",
        ),
    ],
)
def test_after_registration_settings_that_cannot_work_are_refused_before_anything_is_made(
    tmp_path: Path, env: dict[str, str], error: str
) -> None:
    result = dry_run(tmp_path, *REQUIRED, env=env)
    assert result.returncode == 2
    assert error in result.stderr
    assert result.commands == []


def test_object_records_expire_only_when_a_retention_is_set(tmp_path: Path, plan: DryRun) -> None:
    def objects_ttl(run: DryRun) -> list[list[str]]:
        return [
            argv
            for argv in run.gcloud("firestore", "fields", "ttls", "update")
            if flag(argv, "collection-group") == ["objects"]
        ]

    assert objects_ttl(plan) == []
    kept = all_options_plan(tmp_path)
    (ttl,) = objects_ttl(kept)
    assert ttl[5] == "expire_at" and "--enable-ttl" in ttl
    (unindexed,) = [
        argv
        for argv in kept.gcloud("firestore", "indexes", "fields", "update")
        if flag(argv, "collection-group") == ["objects"] and argv[5] == "expire_at"
    ]
    assert "--disable-indexes" in unindexed
    assert kept.env_file()["REGISTRATION_RECORD_RETENTION_DAYS"] == "90"


def test_manifest_writes_are_limited_to_the_manifest_prefix(tmp_path: Path) -> None:
    result = dry_run(
        tmp_path, *REQUIRED, "--manifest-bucket", "acme-manifests", "--manifest-prefix", "enc/"
    )
    (write,) = [
        argv
        for argv in result.gcloud("storage", "buckets", "add-iam-policy-binding")
        if flag(argv, "role") == ["roles/storage.objectUser"]
    ]
    assert write[4] == "gs://acme-manifests"
    (condition,) = flag(write, "condition")
    assert 'resource.name.startsWith("projects/_/buckets/acme-manifests/objects/enc/")' in condition
    assert result.env_file()["REGISTRATION_MANIFEST_BUCKET"] == "acme-manifests"
    assert result.env_file()["REGISTRATION_MANIFEST_PREFIX"] == "enc/"


def test_scheduler_posts_to_sweep_with_an_oidc_token(plan: DryRun) -> None:
    (job,) = plan.gcloud("scheduler", "jobs", "create", "http")
    assert job[5] == "encord-registration-sweep"
    assert flag(job, "http-method") == ["POST"]
    assert flag(job, "uri") == ["SWEEP_URL"]  # the dry run's placeholder for the lookup
    assert flag(job, "oidc-service-account-email") == [SCHEDULER_SA.split(":", 1)[1]]
    assert flag(job, "oidc-token-audience") == ["SWEEP_URL"]
    assert flag(job, "schedule") == ["* * * * *"]  # a job's end noticed within a minute


def test_firestore_gets_the_declared_indexes_and_the_rejections_ttl(plan: DryRun) -> None:
    indexes = plan.gcloud("firestore", "indexes", "composite", "create")
    created: dict[str, set[tuple[str, tuple[str, ...]]]] = {}
    for argv in indexes:
        fields = []
        for config in flag(argv, "field-config"):
            path, order = (part.split("=", 1)[1] for part in config.split(","))
            fields.append(path if order == "ascending" else f"{path} desc")
        (collection,) = flag(argv, "collection-group")
        (scope,) = flag(argv, "query-scope")
        created.setdefault(scope, set()).add((collection, tuple(fields)))
    assert created["COLLECTION"] == set(COMPOSITE_INDEXES)
    assert created["COLLECTION_GROUP"] == set(COLLECTION_GROUP_INDEXES)
    unindexed = {
        (flag(argv, "collection-group")[0], argv[5])
        for argv in plan.gcloud("firestore", "indexes", "fields", "update")
        if "--disable-indexes" in argv
    }
    declared = {(collection, field) for collection, field, scopes in SINGLE_FIELD if not scopes}
    assert declared - {("objects", "expire_at")} <= unindexed  # objects TTL: retention only
    grouped = {
        argv[5]
        for argv in plan.gcloud("firestore", "indexes", "fields", "update")
        if flag(argv, "collection-group") == ["batches"]
    }
    assert grouped == {
        field
        for collection, field, scopes in SINGLE_FIELD
        if collection == "batches" and "COLLECTION_GROUP" in scopes
    }
    (ttl,) = plan.gcloud("firestore", "fields", "ttls", "update")  # no retention: objects keep
    assert ttl[5] == "expire_at"
    assert flag(ttl, "collection-group") == ["rejections"]
    assert "--enable-ttl" in ttl


def test_registration_settings_are_passed_to_the_functions(tmp_path: Path) -> None:
    result = dry_run(
        tmp_path,
        *REQUIRED,
        env={"REGISTRATION_BATCH_IMAGES": "500", "REGISTRATION_IMAGE_GROUP_PREFIXES": "a/,b's/"},
    )
    assert result.returncode == 0, result.stderr
    settings = result.env_file()
    assert settings["REGISTRATION_BATCH_IMAGES"] == "500"
    assert settings["REGISTRATION_IMAGE_GROUP_PREFIXES"] == "a/,b's/"  # commas and quotes kept
    assert settings["REGISTRATION_MANIFEST_BUCKET"] == "acme-images"
    assert settings["GOOGLE_CLOUD_PROJECT"] == PROJECT
    assert "REGISTRATION_BATCH_VIDEOS" not in settings  # unset: the function's default


def test_a_misspelt_setting_is_refused(tmp_path: Path) -> None:
    result = dry_run(tmp_path, *REQUIRED, env={"REGISTRATION_BATCH_IMAGE": "500"})
    assert result.returncode == 2
    assert "REGISTRATION_BATCH_IMAGE is not a setting" in result.stderr


def test_the_script_knows_exactly_the_settings_the_function_reads() -> None:
    text = DEPLOY_SCRIPT.read_text()
    block = re.search(r"KNOWN_SETTINGS=\((.*?)\)", text, re.DOTALL)
    assert block
    readable = {env_name(field) for field in Settings.model_fields}
    assert set(block.group(1).split()) == readable | UPCOMING_SETTINGS


@pytest.mark.parametrize("missing", ["--project", "--region", "--source-bucket"])
def test_a_missing_required_argument_is_refused(tmp_path: Path, missing: str) -> None:
    args = list(REQUIRED)
    index = args.index(missing)
    del args[index : index + 2]
    result = dry_run(tmp_path, *args)
    assert result.returncode == 2
    assert f"{missing} is required" in result.stderr
    assert "+ gcloud" not in result.stdout


@pytest.mark.parametrize("member", ["allUsers", "allAuthenticatedUsers"])
def test_the_status_page_cannot_be_made_public(tmp_path: Path, member: str) -> None:
    result = dry_run(tmp_path, *REQUIRED, "--status-invoker", member)
    assert result.returncode == 2
    assert "never public" in result.stderr


def test_a_manifest_prefix_that_is_not_a_folder_is_refused(tmp_path: Path) -> None:
    result = dry_run(tmp_path, *REQUIRED, "--manifest-prefix", "manifests")
    assert result.returncode == 2
    assert "--manifest-prefix" in result.stderr


def test_help_describes_the_options(tmp_path: Path) -> None:
    result = dry_run(tmp_path, "--help")
    assert result.returncode == 0
    assert "--dry-run" in result.stdout
    assert "Usage:" in result.stdout
