# The two commands a fresh clone needs: `make demo` and `make test`. Both set everything up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# checkov vendors its own 'hcl2' module, which clashes with python-hcl2: separate venv.
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

.PHONY: setup system-deps demo try test unit lint bench stress clean

SEEDS ?= 1 2 3 4 5

$(STAMP): requirements.txt requirements-dev.txt deploy/requirements-check.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	$(VENV)/bin/pip install --quiet -c deploy/requirements-check.txt python-hcl2
	touch $@

$(CHECKOV_STAMP): deploy/requirements-check.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet -c deploy/requirements-check.txt checkov
	touch $@

# The Firestore and Pub/Sub emulators need the Google Cloud CLI, their emulator components
# and Java 17.
system-deps:
	@command -v gcloud >/dev/null || { echo "ERROR: gcloud (Google Cloud CLI) is not installed; the Firestore emulator needs it." >&2; exit 1; }
	@command -v java >/dev/null || { echo "Java missing: installing openjdk-17-jre-headless"; apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless; }
	@gcloud components list --only-local-state --format="value(id)" 2>/dev/null | grep -qx cloud-firestore-emulator \
	  || ls "$$(dirname "$$(readlink -f "$$(command -v gcloud)")")/../platform/cloud-firestore-emulator" >/dev/null 2>&1 \
	  || gcloud components install cloud-firestore-emulator --quiet \
	  || { apt-get update -qq && apt-get install -y -qq google-cloud-cli-firestore-emulator; }
	@gcloud components list --only-local-state --format="value(id)" 2>/dev/null | grep -qx pubsub-emulator \
	  || ls "$$(dirname "$$(readlink -f "$$(command -v gcloud)")")/../platform/pubsub-emulator" >/dev/null 2>&1 \
	  || gcloud components install pubsub-emulator --quiet \
	  || { apt-get update -qq && apt-get install -y -qq google-cloud-cli-pubsub-emulator; }
	@command -v shellcheck >/dev/null || { apt-get update -qq && apt-get install -y -qq shellcheck; }
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium; }

setup: $(STAMP) $(CHECKOV_STAMP) system-deps

demo: setup
	$(PY) -m devstack.demo

# Your own files through the function, locally: make try DROP=./my-folder [BUCKET=name]
# [ARGS="--no-serve --all --encord --report out.json"] (REGISTRATION_* variables pass
# through, e.g. REGISTRATION_BATCH_IMAGES=25 make try ...).
DROP ?=
BUCKET ?= try-bucket
try: setup
	@test -n "$(DROP)" || { echo "usage: make try DROP=./my-folder [BUCKET=name] [ARGS=...]" >&2; exit 2; }
	$(PY) -m devstack.try_drop "$(DROP)" --bucket "$(BUCKET)" $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

unit: $(STAMP)
	$(PY) -m pytest tests/unit -q

test: setup lint
	$(PY) -m pytest

# The stress suite once per seed (make test runs it with seed 1).
stress: setup
	@for seed in $(SEEDS); do \
	  echo "== STRESS_SEED=$$seed"; \
	  STRESS_SEED=$$seed $(PY) -m pytest tests/e2e/test_stress.py -q -s -p no:cacheprovider || exit 1; \
	done

bench: setup
	$(PY) -m bench

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
