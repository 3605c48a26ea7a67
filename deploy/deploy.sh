#!/usr/bin/env bash
# Quick start: deploy the Encord registration functions with gcloud.
#
# It creates the same things as deploy/terraform, in the same shape: two on_storage_event
# functions (finalized, deleted) with retries, sweep and status as private HTTP functions,
# a Cloud Scheduler job for sweep, four service accounts with narrow grants, the Firestore
# indexes and TTLs, and (with an Encord target) the secret for the Encord key. Running it
# again updates everything in place. Alert policies exist only in deploy/terraform.
#
# Usage:
#   deploy/deploy.sh --project ID --region REGION --source-bucket BUCKET [options]
#
# Options:
#   --manifest-bucket BUCKET   bucket for the manifests (default: the source bucket)
#   --manifest-prefix PREFIX   folder for the manifests (default: encord-manifests/)
#   --trigger-region LOCATION  the source bucket's location (default: looked up)
#   --firestore-location LOC   where to create Firestore if the project has none (default: REGION)
#   --name-prefix NAME         prefix of every name (default: encord-registration)
#   --schedule CRON            when sweep runs, UTC (default: every minute)
#   --status-invoker MEMBER    may open the status page, e.g. group:ops@example.com (repeatable)
#   --max-instances N          per event function (default: 20)
#   --build-service-account SA projects/PROJECT/serviceAccounts/EMAIL for Cloud Build
#   --encord-key-secret ID     Secret Manager secret holding ENCORD_SSH_KEY, used when an
#                              Encord target is set (default: NAME-encord-ssh-key)
#   --dry-run                  print every command and run none (no GCP access needed)
#
# Function settings: export any REGISTRATION_* variable of SPEC section 1 before running,
# e.g. REGISTRATION_BATCH_IMAGES=500; each one set is passed on to the functions.
# REGISTRATION_LEASE_SECONDS is always passed: by default the flush timeout plus 60 s.
#
# Submission to Encord (docs/encord.md): export REGISTRATION_ENCORD_FOLDER (or
# REGISTRATION_ENCORD_DATASET) and REGISTRATION_ENCORD_INTEGRATION. The script then creates
# the secret if needed, lets the runtime account read it, and mounts it as ENCORD_SSH_KEY in
# the functions that flush. Add the key itself once, before deploying:
#   gcloud secrets versions add SECRET --data-file=KEY_FILE --project=PROJECT
#
# After registration (docs/encord.md): REGISTRATION_ENCORD_DATASETS, REGISTRATION_ENCORD_ON_DELETE
# and REGISTRATION_ENCORD_ON_OVERWRITE need an Encord target (delete and replace a folder).
# REGISTRATION_NOTIFY_TOPIC (a topic id, or projects/P/topics/T) makes the script create the
# topic if it is missing and let the runtime account, and no one else, publish to it
# (docs/notifications.md).
#
# Object-record retention: REGISTRATION_RECORD_RETENTION_DAYS > 0 also sets the TTL policy
# on objects.expire_at (what expiry gives up: docs/deploy.md).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO_ROOT
readonly BUILD_DIR="$REPO_ROOT/build"
readonly SOURCE_DIR="$BUILD_DIR/function-source"
readonly ENV_FILE="$BUILD_DIR/function-env.yaml"
readonly STATUS_ENV_FILE="$BUILD_DIR/status-env.yaml"
# Flushing functions (events, sweep) run for at most this long; a flush's lease must outlast
# it, or another instance could take over a flush that is still running.
readonly FLUSH_TIMEOUT_SECONDS=300
readonly STATUS_TIMEOUT_SECONDS=60

# The settings the function reads (registration/config.py); anything else is a typo.
readonly KNOWN_SETTINGS=(
  REGISTRATION_BATCH_IMAGES REGISTRATION_BATCH_VIDEOS REGISTRATION_BATCH_AUDIO
  REGISTRATION_BATCH_PDFS REGISTRATION_BATCH_TEXT REGISTRATION_BATCH_NIFTI
  REGISTRATION_BATCH_IMAGE_GROUPS REGISTRATION_BATCH_DICOM_SERIES
  REGISTRATION_MANIFEST_BUCKET REGISTRATION_MANIFEST_PREFIX REGISTRATION_MAX_AGE_SECONDS
  REGISTRATION_IMAGE_GROUP_PREFIXES REGISTRATION_IMAGE_SEQUENCE_PREFIXES
  REGISTRATION_GROUP_QUIET_SECONDS REGISTRATION_URL_STYLE REGISTRATION_MANIFEST_FORMAT
  REGISTRATION_LEASE_SECONDS REGISTRATION_MAX_SEQUENCE_FRAMES REGISTRATION_SWEEP_GRACE_SECONDS
  REGISTRATION_SWEEP_BUDGET_SECONDS REGISTRATION_SWEEP_REPOLL_SECONDS
  REGISTRATION_ENCORD_JOB_ATTENTION_SECONDS
  REGISTRATION_ENCORD_TIMEOUT_SECONDS
  REGISTRATION_RECONCILE_BUCKET REGISTRATION_RECONCILE_PREFIXES REGISTRATION_RECONCILE_DAYS
  REGISTRATION_RECORD_RETENTION_DAYS
  REGISTRATION_ENCORD_FOLDER REGISTRATION_ENCORD_DATASET REGISTRATION_ENCORD_INTEGRATION
  REGISTRATION_ENCORD_DOMAIN REGISTRATION_ENCORD_IGNORE_ERRORS
  REGISTRATION_ENCORD_DATASETS REGISTRATION_ENCORD_ON_DELETE REGISTRATION_ENCORD_ON_OVERWRITE
  REGISTRATION_NOTIFY_TOPIC
)

PROJECT="" REGION="" SOURCE_BUCKET="" MANIFEST_BUCKET="" TRIGGER_REGION="" FIRESTORE_LOCATION=""
MANIFEST_PREFIX="${REGISTRATION_MANIFEST_PREFIX:-encord-manifests/}"
NAME_PREFIX="encord-registration"
SCHEDULE="* * * * *"  # every minute: a job's end is noticed within one (docs/housekeeping.md)
MAX_INSTANCES=20
BUILD_SERVICE_ACCOUNT=""
ENCORD_KEY_SECRET=""
STATUS_INVOKERS=()
DRY_RUN=false

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
}

die() {
  printf 'deploy.sh: %s\n' "$1" >&2
  exit 2
}

# ---------------------------------------------------------------------------------------
# Running commands. Every command is printed first ("+ ..."), quoted so it can be pasted.
# In a dry run nothing runs: lookups answer with a placeholder in capitals, and existence
# checks answer "missing", so the output shows every command a first deployment runs.
# ---------------------------------------------------------------------------------------

exec 3>&1 # the printed commands go to stdout even from inside $(...)

show() {
  printf '+' >&3
  printf ' %q' "$@" >&3
  printf '\n' >&3
}

run() {
  show "$@"
  if [[ $DRY_RUN == false ]]; then "$@"; fi
}

# run, but treat "already exists" as success (creating an index that is there).
run_once() {
  show "$@"
  [[ $DRY_RUN == true ]] && return 0
  local output
  if ! output=$("$@" 2>&1); then
    if grep -qi 'already exists' <<<"$output"; then
      printf '  (already exists)\n'
    else
      printf '%s\n' "$output" >&2
      return 1
    fi
  fi
}

lookup() { # lookup PLACEHOLDER COMMAND...: print the command, then its answer
  local placeholder=$1
  shift
  show "$@"
  if [[ $DRY_RUN == true ]]; then printf '%s' "$placeholder"; else "$@"; fi
}

exists() {
  show "$@"
  [[ $DRY_RUN == false ]] && "$@" >/dev/null 2>&1
}

# ---------------------------------------------------------------------------------------
# Arguments
# ---------------------------------------------------------------------------------------

while (($#)); do
  case $1 in
  --project) PROJECT=${2:?--project needs a value} && shift ;;
  --region) REGION=${2:?--region needs a value} && shift ;;
  --source-bucket) SOURCE_BUCKET=${2:?--source-bucket needs a value} && shift ;;
  --manifest-bucket) MANIFEST_BUCKET=${2:?--manifest-bucket needs a value} && shift ;;
  --manifest-prefix) MANIFEST_PREFIX=${2:?--manifest-prefix needs a value} && shift ;;
  --trigger-region) TRIGGER_REGION=${2:?--trigger-region needs a value} && shift ;;
  --firestore-location) FIRESTORE_LOCATION=${2:?--firestore-location needs a value} && shift ;;
  --name-prefix) NAME_PREFIX=${2:?--name-prefix needs a value} && shift ;;
  --schedule) SCHEDULE=${2:?--schedule needs a value} && shift ;;
  --status-invoker) STATUS_INVOKERS+=("${2:?--status-invoker needs a value}") && shift ;;
  --max-instances) MAX_INSTANCES=${2:?--max-instances needs a value} && shift ;;
  --build-service-account) BUILD_SERVICE_ACCOUNT=${2:?--build-service-account needs a value} && shift ;;
  --encord-key-secret) ENCORD_KEY_SECRET=${2:?--encord-key-secret needs a value} && shift ;;
  --dry-run) DRY_RUN=true ;;
  -h | --help) usage && exit 0 ;;
  *) die "unknown argument: $1 (see --help)" ;;
  esac
  shift
done

[[ -n $PROJECT ]] || die "--project is required (see --help)"
[[ -n $REGION ]] || die "--region is required (see --help)"
[[ -n $SOURCE_BUCKET ]] || die "--source-bucket is required (see --help)"
MANIFEST_BUCKET=${MANIFEST_BUCKET:-${REGISTRATION_MANIFEST_BUCKET:-$SOURCE_BUCKET}}
FIRESTORE_LOCATION=${FIRESTORE_LOCATION:-$REGION}
[[ $MANIFEST_PREFIX =~ ^[^/,][^,]*/$ ]] ||
  die "--manifest-prefix must be a folder such as encord-manifests/ (no leading /, a trailing /, no comma)"
[[ $NAME_PREFIX =~ ^[a-z][a-z0-9-]{2,19}$ ]] ||
  die "--name-prefix: 3 to 20 lowercase letters, digits or hyphens, starting with a letter"
[[ $MAX_INSTANCES =~ ^[1-9][0-9]*$ ]] || die "--max-instances must be a positive whole number"
for member in "${STATUS_INVOKERS[@]}"; do
  [[ $member != allUsers && $member != allAuthenticatedUsers ]] ||
    die "--status-invoker $member: the status page is never public"
done
while IFS= read -r name; do
  [[ " ${KNOWN_SETTINGS[*]} " == *" $name "* ]] || die "$name is not a setting of the function (typo?)"
done < <(compgen -e | grep '^REGISTRATION_' || true)

# The lease is always passed, and must outlast the flush timeout.
REGISTRATION_LEASE_SECONDS=${REGISTRATION_LEASE_SECONDS:-$((FLUSH_TIMEOUT_SECONDS + 60))}
if ! [[ $REGISTRATION_LEASE_SECONDS =~ ^[0-9]+$ ]] || ((REGISTRATION_LEASE_SECONDS <= FLUSH_TIMEOUT_SECONDS)); then
  die "REGISTRATION_LEASE_SECONDS must be more than the ${FLUSH_TIMEOUT_SECONDS} s flush timeout"
fi
export REGISTRATION_LEASE_SECONDS

# With the one-minute schedule, a sweep that finds Encord jobs running polls them again 30 s
# after it started, so a job's end is recorded within about 30 s (docs/housekeeping.md).
REGISTRATION_SWEEP_REPOLL_SECONDS=${REGISTRATION_SWEEP_REPOLL_SECONDS:-30}
export REGISTRATION_SWEEP_REPOLL_SECONDS

RETENTION_DAYS=${REGISTRATION_RECORD_RETENTION_DAYS:-0}
[[ $RETENTION_DAYS =~ ^[0-9]+$ ]] || die "REGISTRATION_RECORD_RETENTION_DAYS must be a whole number of days"

# Submission to Encord: optional, and then the integration is required.
ENCORD=false
if [[ -n ${REGISTRATION_ENCORD_FOLDER:-} || -n ${REGISTRATION_ENCORD_DATASET:-} ]]; then
  ENCORD=true
  [[ -z ${REGISTRATION_ENCORD_FOLDER:-} || -z ${REGISTRATION_ENCORD_DATASET:-} ]] ||
    die "set REGISTRATION_ENCORD_FOLDER or REGISTRATION_ENCORD_DATASET, not both"
  [[ -n ${REGISTRATION_ENCORD_INTEGRATION:-} ]] ||
    die "REGISTRATION_ENCORD_INTEGRATION (the integration's UUID or title) is required with an Encord target"
fi
# After registration: the same rules as registration/config.py, before anything is created.
if [[ $ENCORD == false ]]; then
  for name in REGISTRATION_ENCORD_DATASETS REGISTRATION_NOTIFY_TOPIC; do
    [[ -z ${!name:-} ]] || die "$name needs an Encord target (REGISTRATION_ENCORD_FOLDER or REGISTRATION_ENCORD_DATASET)"
  done
fi
case ${REGISTRATION_ENCORD_ON_DELETE:-report} in report | delete) ;; *) die "REGISTRATION_ENCORD_ON_DELETE: report or delete" ;; esac
case ${REGISTRATION_ENCORD_ON_OVERWRITE:-report} in report | replace) ;; *) die "REGISTRATION_ENCORD_ON_OVERWRITE: report or replace" ;; esac
if [[ -z ${REGISTRATION_ENCORD_FOLDER:-} ]]; then
  [[ ${REGISTRATION_ENCORD_ON_DELETE:-report} == report ]] ||
    die "REGISTRATION_ENCORD_ON_DELETE=delete deletes items through a folder: it needs REGISTRATION_ENCORD_FOLDER"
  [[ ${REGISTRATION_ENCORD_ON_OVERWRITE:-report} == report ]] ||
    die "REGISTRATION_ENCORD_ON_OVERWRITE=replace deletes items through a folder: it needs REGISTRATION_ENCORD_FOLDER"
fi
NOTIFY_PROJECT="" NOTIFY_TOPIC=""
if [[ -n ${REGISTRATION_NOTIFY_TOPIC:-} ]]; then
  if [[ $REGISTRATION_NOTIFY_TOPIC =~ ^projects/([^/]+)/topics/([^/]+)$ ]]; then
    NOTIFY_PROJECT=${BASH_REMATCH[1]} NOTIFY_TOPIC=${BASH_REMATCH[2]}
  else
    NOTIFY_PROJECT=$PROJECT NOTIFY_TOPIC=$REGISTRATION_NOTIFY_TOPIC
  fi
  [[ $NOTIFY_TOPIC =~ ^[A-Za-z][A-Za-z0-9._~+%-]{2,254}$ && $NOTIFY_TOPIC != goog* ]] ||
    die "REGISTRATION_NOTIFY_TOPIC: a topic id (3-255 characters, a letter first, not goog...) or projects/P/topics/T"
fi
ENCORD_KEY_SECRET=${ENCORD_KEY_SECRET:-$NAME_PREFIX-encord-ssh-key}
[[ $ENCORD_KEY_SECRET =~ ^[A-Za-z0-9_-]{1,255}$ ]] || die "--encord-key-secret: letters, digits, - and _ only"

P=(--project="$PROJECT")
DB=(--database='(default)')
RUNTIME_SA="$NAME_PREFIX-run@$PROJECT.iam.gserviceaccount.com"
STATUS_SA="$NAME_PREFIX-status@$PROJECT.iam.gserviceaccount.com"
TRIGGER_SA="$NAME_PREFIX-trigger@$PROJECT.iam.gserviceaccount.com"
SCHEDULER_SA="$NAME_PREFIX-scheduler@$PROJECT.iam.gserviceaccount.com"

# ---------------------------------------------------------------------------------------
# 1. APIs and facts about the project
# ---------------------------------------------------------------------------------------

echo "# 1. APIs"
run gcloud services enable "${P[@]}" \
  artifactregistry.googleapis.com cloudbuild.googleapis.com cloudfunctions.googleapis.com \
  cloudscheduler.googleapis.com eventarc.googleapis.com firestore.googleapis.com \
  iam.googleapis.com pubsub.googleapis.com run.googleapis.com storage.googleapis.com
if [[ $ENCORD == true ]]; then run gcloud services enable "${P[@]}" secretmanager.googleapis.com; fi

# A storage trigger must sit in the bucket's location, which need not be REGION.
if [[ -z $TRIGGER_REGION ]]; then
  TRIGGER_REGION=$(lookup bucket-location \
    gcloud storage buckets describe "gs://$SOURCE_BUCKET" "${P[@]}" --format='value(location)')
fi
TRIGGER_REGION=${TRIGGER_REGION,,}
PROJECT_NUMBER=$(lookup PROJECT_NUMBER \
  gcloud projects describe "$PROJECT" --format='value(projectNumber)')
STORAGE_AGENT=$(lookup "service-$PROJECT_NUMBER@gs-project-accounts.iam.gserviceaccount.com" \
  gcloud storage service-agent "${P[@]}")
PUBSUB_AGENT="service-$PROJECT_NUMBER@gcp-sa-pubsub.iam.gserviceaccount.com"

# ---------------------------------------------------------------------------------------
# 2. Firestore: the (default) database, the indexes, the TTL on rejections
# ---------------------------------------------------------------------------------------

echo "# 2. Firestore"
if ! exists gcloud firestore databases describe "${DB[@]}" "${P[@]}"; then
  run gcloud firestore databases create "${DB[@]}" "${P[@]}" \
    --location="$FIRESTORE_LOCATION" --type=firestore-native --delete-protection
fi
# The composite indexes the queries need, as registration/adapters/firestore/indexes.py
# declares them: "collection field[:descending] ...", one line each.
COMPOSITE_INDEXES=(
  "objects buffer state shard queued_at"
  "objects buffer state shard queued_at:descending"
  "objects buffer shard queued_at"
  "objects bucket shard state name"
  "rejections bucket folder recorded_at:descending"
  "rejections bucket folder recorded_at"
  "buffers key folder"
  "buffers key create_video folder"
)
create_composites() { # create_composites SCOPE "collection field[:descending] ..." ...
  local scope=$1 index collection fields field order
  shift
  for index in "$@"; do
    read -r collection fields <<<"$index"
    local config=()
    for field in $fields; do
      order=ascending
      [[ $field == *:descending ]] && order=descending
      config+=("--field-config=field-path=${field%%:*},order=$order")
    done
    run_once gcloud firestore indexes composite create "${DB[@]}" "${P[@]}" --async \
      --collection-group="$collection" --query-scope="$scope" "${config[@]}"
  done
}
create_composites COLLECTION "${COMPOSITE_INDEXES[@]}"
# Composites over every buffer's subcollection (collection-group queries), the same way.
COLLECTION_GROUP_INDEXES=(
  "batches submission next_attempt_at"
)
create_composites COLLECTION_GROUP "${COLLECTION_GROUP_INDEXES[@]}"
# Values that grow within a folder (times, the generation, numbered names) would each be one
# hot range for every writer, and objects.metadata is up to 8 KiB that nothing queries: none
# gets a single-field index (the composites serve every query on them).
for field in created_at queued_at generation time_created name metadata; do
  run gcloud firestore indexes fields update "$field" "${DB[@]}" "${P[@]}" --async \
    --collection-group=objects --disable-indexes
done
# The sweep and the status view query batches of every buffer (collection-group queries):
# by state, by submission, by when a dataset link is due, by a refused link or message; and
# `resubmit` finds one by its manifest.
for field in state submission manifest_path links_due_at follow_up_failed; do
  run gcloud firestore indexes fields update "$field" "${DB[@]}" "${P[@]}" --async \
    --collection-group=batches --index=order=ascending,query-scope=collection-group
done
run gcloud firestore fields ttls update expire_at "${DB[@]}" "${P[@]}" --async \
  --collection-group=rejections --enable-ttl
# Nothing queries expire_at, and an indexed timestamp that only grows caps the write rate.
run gcloud firestore indexes fields update expire_at "${DB[@]}" "${P[@]}" --async \
  --collection-group=rejections --disable-indexes
# Registered objects' records expire only when a retention is set (docs/deploy.md).
if ((RETENTION_DAYS > 0)); then
  run gcloud firestore fields ttls update expire_at "${DB[@]}" "${P[@]}" --async \
    --collection-group=objects --enable-ttl
  run gcloud firestore indexes fields update expire_at "${DB[@]}" "${P[@]}" --async \
    --collection-group=objects --disable-indexes
fi

# ---------------------------------------------------------------------------------------
# 3. Service accounts and their grants (the same as deploy/terraform/iam.tf)
# ---------------------------------------------------------------------------------------

echo "# 3. Service accounts and IAM"
ensure_service_account() { # ensure_service_account EMAIL DISPLAY_NAME
  if ! exists gcloud iam service-accounts describe "$1" "${P[@]}"; then
    run gcloud iam service-accounts create "${1%%@*}" "${P[@]}" --display-name="$2"
  fi
}
ensure_service_account "$RUNTIME_SA" "Encord registration: function runtime"
ensure_service_account "$STATUS_SA" "Encord registration: status page (read only)"
ensure_service_account "$TRIGGER_SA" "Encord registration: storage event delivery"
ensure_service_account "$SCHEDULER_SA" "Encord registration: calls sweep"

grant_project() { # grant_project MEMBER ROLE
  run gcloud projects add-iam-policy-binding "$PROJECT" --member="$1" --role="$2" \
    --condition=None --format=none
}
# Firestore roles are project roles; the condition limits them to the product's database.
grant_project_database() { # grant_project_database MEMBER ROLE
  run gcloud projects add-iam-policy-binding "$PROJECT" --member="$1" --role="$2" --format=none \
    --condition="title=registration-database-only,expression=resource.name == \"projects/$PROJECT/databases/(default)\""
}
grant_project_database "serviceAccount:$RUNTIME_SA" roles/datastore.user
# status reads Firestore and nothing else.
grant_project_database "serviceAccount:$STATUS_SA" roles/datastore.viewer
grant_project "serviceAccount:$TRIGGER_SA" roles/eventarc.eventReceiver
grant_project "serviceAccount:$STORAGE_AGENT" roles/pubsub.publisher

run gcloud storage buckets add-iam-policy-binding "gs://$SOURCE_BUCKET" "${P[@]}" \
  --member="serviceAccount:$RUNTIME_SA" --role=roles/storage.objectViewer --format=none
# Overwriting a manifest needs objects.delete as well as create, so objectUser, but only
# under the prefix (needs uniform bucket-level access on the manifest bucket).
run gcloud storage buckets add-iam-policy-binding "gs://$MANIFEST_BUCKET" "${P[@]}" \
  --member="serviceAccount:$RUNTIME_SA" --role=roles/storage.objectUser --format=none \
  --condition="title=encord-manifests-only,expression=resource.name.startsWith(\"projects/_/buckets/$MANIFEST_BUCKET/objects/$MANIFEST_PREFIX\")"
run gcloud iam service-accounts add-iam-policy-binding "$TRIGGER_SA" "${P[@]}" \
  --member="serviceAccount:$PUBSUB_AGENT" --role=roles/iam.serviceAccountTokenCreator \
  --format=none

# The Encord key: the secret (never its value), readable by the runtime account only.
if [[ $ENCORD == true ]]; then
  if ! exists gcloud secrets describe "$ENCORD_KEY_SECRET" "${P[@]}"; then
    run gcloud secrets create "$ENCORD_KEY_SECRET" "${P[@]}" --replication-policy=automatic \
      --labels=purpose=encord-sdk-key
  fi
  run gcloud secrets add-iam-policy-binding "$ENCORD_KEY_SECRET" "${P[@]}" \
    --member="serviceAccount:$RUNTIME_SA" --role=roles/secretmanager.secretAccessor --format=none
  # Cloud Run refuses to mount a secret with no version: the operator adds the key first.
  if ! exists gcloud secrets versions describe latest --secret="$ENCORD_KEY_SECRET" "${P[@]}"; then
    hint="gcloud secrets versions add $ENCORD_KEY_SECRET --data-file=KEY_FILE --project=$PROJECT"
    [[ $DRY_RUN == true ]] || die "secret $ENCORD_KEY_SECRET holds no key yet; add it with: $hint (docs/encord.md), then run again"
    echo "# (a real run stops here unless the secret holds a key: $hint)"
  fi
fi

# Job notifications: the topic (created if missing), and publish for the runtime account on
# that topic only. Subscriptions are the consumers' own.
if [[ -n $NOTIFY_TOPIC ]]; then
  TP=(--project="$NOTIFY_PROJECT")
  if ! exists gcloud pubsub topics describe "$NOTIFY_TOPIC" "${TP[@]}"; then
    run gcloud pubsub topics create "$NOTIFY_TOPIC" "${TP[@]}" --labels=purpose=encord-job-notifications
  fi
  run gcloud pubsub topics add-iam-policy-binding "$NOTIFY_TOPIC" "${TP[@]}" \
    --member="serviceAccount:$RUNTIME_SA" --role=roles/pubsub.publisher --format=none
fi

# ---------------------------------------------------------------------------------------
# 4. Source and settings
# ---------------------------------------------------------------------------------------

echo "# 4. Source and settings"
run "${PYTHON:-python3}" "$REPO_ROOT/deploy/package.py" "$SOURCE_DIR"

yaml_quote() { printf "'%s'" "${1//\'/\'\'}"; }

# The settings of the functions that flush (events, sweep); status gets the same without
# the REGISTRATION_ENCORD_* and REGISTRATION_NOTIFY_* ones.
env_file_lines() {
  local name
  printf 'GOOGLE_CLOUD_PROJECT: %s\n' "$(yaml_quote "$PROJECT")"
  printf 'REGISTRATION_MANIFEST_BUCKET: %s\n' "$(yaml_quote "$MANIFEST_BUCKET")"
  printf 'REGISTRATION_MANIFEST_PREFIX: %s\n' "$(yaml_quote "$MANIFEST_PREFIX")"
  for name in "${KNOWN_SETTINGS[@]}"; do
    case $name in REGISTRATION_MANIFEST_BUCKET | REGISTRATION_MANIFEST_PREFIX) continue ;; esac
    if [[ -n ${!name+set} ]]; then printf '%s: %s\n' "$name" "$(yaml_quote "${!name}")"; fi
  done
}

status_env_file_lines() { env_file_lines | grep -v -e '^REGISTRATION_ENCORD_' -e '^REGISTRATION_NOTIFY_'; }

# A file rather than --set-env-vars: prefix lists hold commas.
echo "# write $ENV_FILE:"
env_file_lines | sed 's/^/#   /'
echo "# write $STATUS_ENV_FILE: the same without REGISTRATION_ENCORD_* and REGISTRATION_NOTIFY_*"
if [[ $DRY_RUN == false ]]; then
  mkdir -p "$BUILD_DIR"
  env_file_lines >"$ENV_FILE"
  status_env_file_lines >"$STATUS_ENV_FILE"
fi

# ---------------------------------------------------------------------------------------
# 5. Functions
# ---------------------------------------------------------------------------------------

echo "# 5. Functions"
COMMON=(
  --gen2 --region="$REGION" "${P[@]}" --runtime=python311 --source="$SOURCE_DIR"
  --memory=512Mi --serve-all-traffic-latest-revision --quiet
)
if [[ -n $BUILD_SERVICE_ACCOUNT ]]; then COMMON+=(--build-service-account="$BUILD_SERVICE_ACCOUNT"); fi
# The functions that flush: the runtime account, the full settings, and the Encord key.
FLUSH=(--service-account="$RUNTIME_SA" --env-vars-file="$ENV_FILE" --timeout="${FLUSH_TIMEOUT_SECONDS}s")
# (To stop submitting later: unset the target and run once with --clear-secrets by hand.)
if [[ $ENCORD == true ]]; then FLUSH+=(--set-secrets="ENCORD_SSH_KEY=$ENCORD_KEY_SECRET:latest"); fi

# One 2nd gen function takes one event trigger: on_storage_event is deployed per event type.
# --retry: the handler raises only for transient failures, and every step is idempotent.
for event in finalized deleted; do
  run gcloud functions deploy "$NAME_PREFIX-$event" "${COMMON[@]}" \
    --entry-point=on_storage_event \
    --trigger-event-filters=type="google.cloud.storage.object.v1.$event" \
    --trigger-event-filters=bucket="$SOURCE_BUCKET" \
    --trigger-location="$TRIGGER_REGION" --trigger-service-account="$TRIGGER_SA" --retry \
    --ingress-settings=internal-only --max-instances="$MAX_INSTANCES" "${FLUSH[@]}"
done
# Cloud Scheduler counts as internal traffic; people reach status with an identity token.
run gcloud functions deploy "$NAME_PREFIX-sweep" "${COMMON[@]}" --entry-point=sweep \
  --trigger-http --no-allow-unauthenticated --ingress-settings=internal-only \
  --max-instances=2 "${FLUSH[@]}"
# status: its own read-only account, no Encord settings, no secret.
run gcloud functions deploy "$NAME_PREFIX-status" "${COMMON[@]}" --entry-point=status \
  --trigger-http --no-allow-unauthenticated --ingress-settings=all \
  --service-account="$STATUS_SA" --env-vars-file="$STATUS_ENV_FILE" \
  --timeout="${STATUS_TIMEOUT_SECONDS}s" --max-instances=2

# Invokers: each function's Cloud Run service answers only the accounts named here.
grant_invoker() { # grant_invoker FUNCTION MEMBER
  run gcloud run services add-iam-policy-binding "$1" --region="$REGION" "${P[@]}" \
    --member="$2" --role=roles/run.invoker --format=none
}
grant_invoker "$NAME_PREFIX-finalized" "serviceAccount:$TRIGGER_SA"
grant_invoker "$NAME_PREFIX-deleted" "serviceAccount:$TRIGGER_SA"
grant_invoker "$NAME_PREFIX-sweep" "serviceAccount:$SCHEDULER_SA"
for member in "${STATUS_INVOKERS[@]}"; do grant_invoker "$NAME_PREFIX-status" "$member"; done

# ---------------------------------------------------------------------------------------
# 6. Scheduler
# ---------------------------------------------------------------------------------------

echo "# 6. Scheduler"
SWEEP_URL=$(lookup SWEEP_URL gcloud functions describe "$NAME_PREFIX-sweep" --gen2 \
  --region="$REGION" "${P[@]}" --format='value(serviceConfig.uri)')
JOB=(
  "$NAME_PREFIX-sweep" --location="$REGION" "${P[@]}" --schedule="$SCHEDULE"
  --time-zone=Etc/UTC --uri="$SWEEP_URL" --http-method=POST --message-body='{}'
  --oidc-service-account-email="$SCHEDULER_SA" --oidc-token-audience="$SWEEP_URL"
  --attempt-deadline=320s --max-retry-attempts=0
)
if exists gcloud scheduler jobs describe "$NAME_PREFIX-sweep" --location="$REGION" "${P[@]}"; then
  run gcloud scheduler jobs update http "${JOB[@]}" --update-headers=Content-Type=application/json
else
  run gcloud scheduler jobs create http "${JOB[@]}" --headers=Content-Type=application/json
fi

echo "# Done. Status page: curl -H \"Authorization: Bearer \$(gcloud auth print-identity-token)\" \\"
echo "#   \$(gcloud functions describe $NAME_PREFIX-status --region=$REGION --project=$PROJECT --format='value(serviceConfig.uri)')"
