"""The Encord gateway, driving the real SDK (encord 0.1.211) against the local Encord stub.

Nothing here mocks the SDK: requests are signed with Ed25519 keys generated per test, and the
stub checks those signatures as Encord does.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from encord.http.v2.request_signer import sign_request

from registration.adapters.encord_gateway import EncordGateway
from registration.domain.submission import EncordJobResult, EncordUnitError
from registration.exceptions import (
    ConfigurationError,
    EncordDeferredError,
    EncordRateLimitedError,
    EncordRefusedError,
    EncordUnavailableError,
)
from tests.support.encord_stub import EncordStub

ROOT = Path(__file__).resolve().parents[2]
BUCKET = "site-bucket"
TIMEOUT = 2  # seconds: the gateway's HTTP request timeout in these tests


def https(name: str) -> str:
    return f"https://storage.cloud.google.com/{BUCKET}/{name}"


def gs(name: str) -> str:
    return f"gs://{BUCKET}/{name}"


IMAGES: dict[str, Any] = {
    "images": [{"objectUrl": https("cam%201/1%2B%2832%29.jpg")}, {"objectUrl": https("a/b.png")}],
    "skip_duplicate_urls": True,
}
GROUPS: dict[str, Any] = {
    "image_groups": [
        {
            "title": "seq",
            "createVideo": True,
            "objectUrl_0": gs("s/0.jpg"),
            "objectUrl_1": gs("s/1.jpg"),
        }
    ],
    "skip_duplicate_urls": True,
}


def openssh(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(Encoding.PEM, PrivateFormat.OpenSSH, NoEncryption()).decode()


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def stub(key: Ed25519PrivateKey) -> Iterator[EncordStub]:
    with EncordStub([key.public_key()]) as running:
        yield running


@pytest.fixture
def integration(stub: EncordStub) -> str:
    return stub.add_integration("gcs site-bucket")


@pytest.fixture
def folder(stub: EncordStub) -> str:
    return stub.add_folder(name="incoming")


@pytest.fixture
def dataset(stub: EncordStub) -> str:
    return stub.add_dataset(title="legacy")


def gateway(
    stub: EncordStub, key: Ed25519PrivateKey, integration: str, **target: Any
) -> EncordGateway:
    options: dict[str, Any] = {"ignore_errors": True, "request_timeout_seconds": TIMEOUT}
    options.update(target)
    return EncordGateway(
        domain=stub.url, ssh_private_key=openssh(key), integration=integration, **options
    )


def poll_until_finished(gw: EncordGateway, job_id: str) -> list[EncordJobResult]:
    seen = [gw.poll(job_id)]
    while not seen[-1].finished:
        assert len(seen) < 10
        seen.append(gw.poll(job_id))
    return seen


@pytest.mark.parametrize("kind", ["folder", "dataset"])
def test_a_job_started_through_the_sdk_reaches_done_and_the_stub_registered_each_url_once(
    stub, key, integration, folder, dataset, kind
):
    target = folder if kind == "folder" else dataset
    gw = gateway(stub, key, integration, **{kind: target})

    job_id = gw.start(IMAGES, "site/cam 1/images/batch-1.json")
    polls = poll_until_finished(gw, job_id)

    assert [p.status for p in polls] == ["PENDING", "DONE"]
    assert polls[0].units_pending == 2
    done = polls[-1]
    assert replace(done, items=(), items_listed=False) == EncordJobResult("DONE", 0, 2, 0, 0, ())
    # The final poll's answer lists the job's items too (issue 20: no second call for them).
    assert done.items_listed and sorted(item.name for item in done.items) == ["1+(32).jpg", "b.png"]
    assert {item.item_uuid for item in done.items} == {i.uuid for i in stub.items(target)}
    job = stub.job(job_id)
    assert job.api == kind and job.target == target and job.integration_id == integration
    assert job.manifest == IMAGES
    assert job.file_name == "batch-1.json"
    assert job.ignore_errors is True
    assert job.poll_timeouts == [0, 0]  # never the SDK's 7-day long poll
    assert stub.registered_urls(target) == {u["objectUrl"]: 1 for u in IMAGES["images"]}


def test_each_frame_of_an_image_group_is_registered_once_as_one_unit(
    stub, key, integration, folder
):
    gw = gateway(stub, key, integration, folder=folder)

    result = poll_until_finished(gw, gw.start(GROUPS, "groups.json"))[-1]

    assert (result.status, result.units_done) == ("DONE", 1)
    assert stub.registered_urls(folder) == {gs("s/0.jpg"): 1, gs("s/1.jpg"): 1}


@pytest.mark.parametrize("kind", ["folder", "dataset"])
def test_a_request_signed_with_an_unregistered_key_is_refused(
    stub, key, integration, folder, dataset, kind
):
    intruder = Ed25519PrivateKey.generate()
    gw = gateway(stub, intruder, integration, **{kind: folder if kind == "folder" else dataset})

    with pytest.raises(EncordRefusedError, match="AuthenticationError"):
        gw.start(IMAGES, "batch.json")

    assert stub.jobs() == []
    assert {r.status for r in stub.requests()} == {401}


def test_a_body_that_does_not_match_its_content_digest_is_refused(stub, key, folder):
    request = requests.Request(
        "POST", f"{stub.url}/v2/public/storage/folders/{folder}/data-upload-jobs", json={"a": 1}
    ).prepare()
    public_hex = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
    signed = sign_request(request, public_hex, key)
    signed.body = b'{"a": 2}'

    with requests.Session() as session:
        answer = session.send(signed, timeout=TIMEOUT)

    assert answer.status_code == 401
    assert "Content-Digest" in answer.json()["message"]


def test_a_rate_limited_start_raises_encord_rate_limited_error_carrying_retry_after(
    stub, key, integration, folder
):
    gw = gateway(stub, key, integration, folder=folder)
    stub.inject_rate_limit(retry_after=7)

    with pytest.raises(EncordRateLimitedError) as raised:
        gw.start(IMAGES, "batch.json")

    assert raised.value.retry_after_seconds == 7
    assert "manifest batch.json" in str(raised.value) and folder in str(raised.value)
    assert stub.jobs() == []
    assert gw.start(IMAGES, "batch.json")  # the next call goes through


@pytest.mark.parametrize("kind", ["folder", "dataset"])
def test_a_503_on_start_raises_encord_unavailable_error(
    stub, key, integration, folder, dataset, kind
):
    gw = gateway(stub, key, integration, **{kind: folder if kind == "folder" else dataset})
    stub.inject_unavailable()

    with pytest.raises(EncordUnavailableError, match=r"manifest batch\.json"):
        gw.start(IMAGES, "batch.json")

    assert stub.jobs() == []


@pytest.mark.parametrize("mode", ["delay", "drop"])
@pytest.mark.parametrize("kind", ["folder", "dataset"])
def test_an_accepted_start_whose_answer_is_lost_raises_unavailable_and_a_resubmission_registers_nothing_new(  # noqa: E501
    stub, key, integration, folder, dataset, kind, mode
):
    target = folder if kind == "folder" else dataset
    gw = gateway(stub, key, integration, **{kind: target})
    stub.inject_accept_then_timeout(mode=mode, delay_seconds=TIMEOUT + 5)

    began = time.monotonic()
    with pytest.raises(EncordUnavailableError) as raised:
        gw.start(IMAGES, "batch.json")

    assert time.monotonic() - began < TIMEOUT + 3  # the gateway's timeout, not the SDK's 180 s
    assert raised.value.job_may_exist is True
    [lost] = stub.jobs()
    assert lost.answered is False and lost.registered == tuple(
        u["objectUrl"] for u in IMAGES["images"]
    )

    again = gw.start(IMAGES, "batch.json")
    result = poll_until_finished(gw, again)[-1]

    assert (result.status, result.units_done, result.units_error) == ("DONE", 2, 0)
    assert stub.job(again).registered == ()
    assert len(stub.job(again).skipped) == 2
    assert set(stub.registered_urls(target).values()) == {1}


def test_without_skip_duplicate_urls_a_resubmission_registers_every_url_again(
    stub, key, integration, folder
):
    gw = gateway(stub, key, integration, folder=folder)
    manifest = {"images": IMAGES["images"]}

    gw.start(manifest, "a.json")
    gw.start(manifest, "a.json")

    assert set(stub.registered_urls(folder).values()) == {2}


@pytest.mark.parametrize(("ignore_errors", "status"), [(True, "DONE"), (False, "ERROR")])
def test_a_url_matching_a_fail_rule_shows_up_in_unit_errors_with_the_error_text(
    stub, key, integration, folder, dataset, ignore_errors, status
):
    stub.fail_urls_matching(r"a/b\.png$", error="Object not found in bucket")
    for target in ({"folder": folder}, {"dataset": dataset}):
        gw = gateway(stub, key, integration, ignore_errors=ignore_errors, **target)

        result = poll_until_finished(gw, gw.start(IMAGES, "batch.json"))[-1]

        assert result.status == status
        assert (result.units_done, result.units_error) == (1, 1)
        assert result.unit_errors == (
            EncordUnitError((https("a/b.png"),), "Object not found in bucket"),
        )
    assert https("a/b.png") not in stub.registered_urls(folder)


def test_an_integration_given_by_title_is_resolved_once(stub, key, integration, folder):
    stub.add_integration("another bucket")
    gw = gateway(stub, key, "gcs site-bucket", folder=folder)

    first, second = gw.start(IMAGES, "1.json"), gw.start(GROUPS, "2.json")

    assert stub.job(first).integration_id == stub.job(second).integration_id == integration
    lookups = [r for r in stub.requests() if r.path.endswith("/cloud-integrations")]
    assert len(lookups) == 1


def test_an_unknown_integration_title_gives_a_clear_error(stub, key, integration, folder):
    gw = gateway(stub, key, "no such bucket", folder=folder)

    with pytest.raises(EncordRefusedError) as raised:
        gw.start(IMAGES, "batch.json")

    assert "'no such bucket'" in str(raised.value)
    assert "no cloud integration visible to this key has that title" in str(raised.value)
    assert stub.jobs() == []


def test_a_title_shared_by_two_integrations_gives_a_clear_error(stub, key, integration, folder):
    twin = stub.add_integration("gcs site-bucket")
    gw = gateway(stub, key, "gcs site-bucket", folder=folder)

    with pytest.raises(EncordRefusedError, match="2 cloud integrations have that title") as raised:
        gw.check()

    assert integration in str(raised.value) and twin in str(raised.value)


def test_an_unknown_folder_is_refused(stub, key, integration):
    gw = gateway(stub, key, integration, folder="00000000-0000-4000-8000-000000000000")

    with pytest.raises(EncordRefusedError, match="folder 00000000-0000-4000-8000-000000000000"):
        gw.start(IMAGES, "batch.json")


def test_an_unknown_dataset_is_refused(stub, key, integration):
    gw = gateway(stub, key, integration, dataset="no-such-dataset")

    with pytest.raises(EncordRefusedError, match="dataset no-such-dataset"):
        gw.check()


def test_an_unknown_integration_uuid_is_refused_at_start(stub, key, folder):
    gw = gateway(stub, key, "00000000-0000-4000-8000-000000000001", folder=folder)

    with pytest.raises(EncordRefusedError, match="InvalidArgumentsError"):
        gw.start(IMAGES, "batch.json")


def test_a_manifest_with_an_unknown_key_is_refused(stub, key, integration, folder):
    gw = gateway(stub, key, integration, folder=folder)

    with pytest.raises(EncordRefusedError, match="Unknown keys"):
        gw.start({"pictures": [], "skip_duplicate_urls": True}, "batch.json")


def test_a_payload_over_the_servers_limit_is_refused(stub, key, integration, folder):
    stub.max_body_bytes = 100
    gw = gateway(stub, key, integration, folder=folder)

    with pytest.raises(EncordRefusedError, match="PayloadTooLargeError"):
        gw.start(IMAGES, "batch.json")


def test_a_pkcs8_pem_key_from_encord_ssh_key_is_accepted(
    stub, key, integration, folder, monkeypatch
):
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
    monkeypatch.setenv("ENCORD_SSH_KEY", pem)
    gw = EncordGateway(domain=stub.url, integration=integration, folder=folder)

    assert stub.job(gw.start(IMAGES, "batch.json")).key_id == stub.requests()[0].key_id


def test_a_key_that_is_not_ed25519_is_a_configuration_error_that_does_not_quote_the_key():
    with pytest.raises(ConfigurationError, match="ENCORD_SSH_KEY") as raised:
        EncordGateway(integration="x", folder=None, dataset="d", ssh_private_key="not a key")

    assert "not a key" not in str(raised.value)


def test_a_folder_and_a_dataset_together_are_a_configuration_error(key):
    with pytest.raises(ConfigurationError, match="REGISTRATION_ENCORD_FOLDER"):
        EncordGateway(
            integration="x",
            folder="00000000-0000-4000-8000-000000000000",
            dataset="d",
            ssh_private_key=openssh(key),
        )


def test_a_closed_port_is_unavailable_and_no_job_can_exist(key):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    gw = EncordGateway(
        domain=f"http://127.0.0.1:{port}",
        ssh_private_key=openssh(key),
        integration="00000000-0000-4000-8000-000000000001",
        folder="00000000-0000-4000-8000-000000000000",
        request_timeout_seconds=TIMEOUT,
    )

    with pytest.raises(EncordUnavailableError) as raised:
        gw.start(IMAGES, "batch.json")

    assert raised.value.job_may_exist is False


def test_a_poll_answered_503_raises_unavailable_at_once_without_a_retry(
    stub, key, integration, folder
):
    gw = gateway(stub, key, integration, folder=folder)
    job_id = gw.start(IMAGES, "batch.json")
    stub.inject_unavailable(times=1, on="poll")  # the plain policy: one request, no retry

    with pytest.raises(EncordUnavailableError, match=f"job {job_id}"):
        gw.poll(job_id)

    assert gw.poll(job_id).status == "PENDING"


def test_a_rate_limited_poll_raises_encord_rate_limited_error(stub, key, integration, folder):
    gw = gateway(stub, key, integration, folder=folder)
    job_id = gw.start(IMAGES, "batch.json")
    stub.inject_rate_limit(retry_after=0, times=1, on="poll")

    with pytest.raises(EncordRateLimitedError, match=f"job {job_id}"):
        gw.poll(job_id)


def test_cancelling_a_pending_folder_job_registers_nothing(stub, key, integration, folder):
    stub.set_polls_until_done(5)
    gw = gateway(stub, key, integration, folder=folder)
    job_id = gw.start(IMAGES, "batch.json")

    assert gw.cancel(job_id) == 2
    result = gw.poll(job_id)

    assert (result.status, result.units_cancelled) == ("CANCELLED", 2)
    assert stub.registered_urls(folder) == {}


def test_the_stub_runs_as_a_process_until_sigterm(key):
    public_hex = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "tests.support.encord_stub", "--port", "0"),
            *("--public-key", public_hex, "--integration", "bucket", "--auto-create"),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        integration_line = process.stdout.readline()
        url = process.stdout.readline().strip()
        assert integration_line.startswith("integration 'bucket'")
        gw = EncordGateway(
            domain=url,
            ssh_private_key=openssh(key),
            integration="bucket",
            folder="00000000-0000-4000-8000-00000000000a",
            request_timeout_seconds=TIMEOUT,
        )
        job_id = gw.start(IMAGES, "batch.json")
        [listed] = requests.get(f"{url}/_stub/jobs", timeout=TIMEOUT).json()
        assert listed["id"] == job_id and listed["file_name"] == "batch.json"
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


# -- bounded by the invocation (issue 19, finding 5) ----------------------------------------


def test_a_poll_of_a_hung_encord_gives_up_after_one_request_timeout_not_the_sdks_retry_sleeps(
    stub, key, integration, folder
):
    gw = gateway(stub, key, integration, folder=folder)
    job_id = gw.start(IMAGES, "batch.json")
    stub.hang_every_call()

    began = time.monotonic()
    with pytest.raises(EncordUnavailableError):
        gw.poll(job_id)

    # The SDK's polling loop alone would take 3 tries and two 10 s sleeps (32 s at 2 s).
    assert time.monotonic() - began < TIMEOUT + 1.5
    assert stub.hung_requests == 1


def test_a_rate_limited_poll_surfaces_retry_after_instead_of_sleeping_it(
    stub, key, integration, folder
):
    gw = gateway(stub, key, integration, folder=folder)
    job_id = gw.start(IMAGES, "batch.json")
    stub.inject_rate_limit(retry_after=30, times=1, on="poll")

    began = time.monotonic()
    with pytest.raises(EncordRateLimitedError) as raised:
        gw.poll(job_id)

    assert raised.value.retry_after_seconds == 30  # the caller sets the next attempt from it
    assert time.monotonic() - began < TIMEOUT


@pytest.mark.parametrize("first", ["hang", "503", "429"])
def test_after_encord_fails_once_the_rest_of_the_invocation_defers_its_calls_without_sending_them(
    stub, key, integration, folder, first
):
    gw = gateway(stub, key, integration, folder=folder)
    job_id = gw.start(IMAGES, "batch.json")
    invocation = gw.session()
    if first == "hang":
        stub.hang_every_call()
    elif first == "503":
        stub.inject_unavailable(times=1, on="poll")
    else:
        stub.inject_rate_limit(retry_after=5, times=1, on="poll")
    with pytest.raises((EncordUnavailableError, EncordRateLimitedError)):
        invocation.poll(job_id)
    sent = len(stub.requests()) + stub.hung_requests

    began = time.monotonic()
    with pytest.raises(EncordDeferredError):
        invocation.start(IMAGES, "second.json")
    with pytest.raises(EncordDeferredError):
        invocation.poll(job_id)

    assert time.monotonic() - began < 0.5
    assert len(stub.requests()) + stub.hung_requests == sent  # nothing more reached Encord
    assert isinstance(EncordDeferredError("x", "y"), EncordUnavailableError)  # "retry later"
    stub.stop_hanging()
    assert gw.session().poll(job_id).status in ("PENDING", "DONE")  # a new invocation calls


def test_each_call_of_an_invocation_is_bounded_by_the_budget_it_has_left(
    stub, key, integration, folder
):
    gw = gateway(stub, key, integration, folder=folder, request_timeout_seconds=20)
    job_id = gw.start(IMAGES, "batch.json")
    stub.hang_every_call()
    invocation = gw.session(budget_seconds=2.5)

    began = time.monotonic()
    with pytest.raises(EncordUnavailableError):
        invocation.poll(job_id)

    assert 2.0 < time.monotonic() - began < 4.0  # the budget left, not the 20 s timeout


def test_an_invocation_whose_budget_is_spent_sends_nothing(stub, key, integration, folder):
    gw = gateway(stub, key, integration, folder=folder)
    job_id = gw.start(IMAGES, "batch.json")
    sent = len(stub.requests())

    with pytest.raises(EncordDeferredError, match="spent"):
        gw.session(budget_seconds=0.5).poll(job_id)

    assert len(stub.requests()) == sent
