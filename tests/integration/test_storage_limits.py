"""The test stack's storage enforces Cloud Storage's object-name limits (issue 13).

gcp-storage-emulator accepts any name; Cloud Storage refuses one over 1,024 bytes of UTF-8.
The stack's storage URL is a proxy that refuses what Cloud Storage refuses, so a manifest
path that would fail in production fails in the tests too.
"""

from __future__ import annotations

import google.api_core.exceptions
import google.cloud.storage as storage
import pytest
import requests
from google.auth.credentials import AnonymousCredentials

from devstack.stack import PROJECT, Stack
from registration.adapters.gcs import CloudStorage


@pytest.fixture
def client(emulators: Stack) -> storage.Client:
    return storage.Client(
        project=PROJECT,
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": emulators.storage.url},
    )


def test_writing_a_manifest_with_a_1100_byte_name_fails_with_bad_request(
    client: storage.Client, bucket: str
) -> None:
    path = "encord-manifests/" + "f" * 1060 + "/images/1.json"
    assert len(path.encode()) > 1024

    with pytest.raises(google.api_core.exceptions.BadRequest, match="1024"):
        CloudStorage(client).write(bucket, path, b'{"images": []}', "application/json")

    assert [blob.name for blob in client.list_blobs(bucket)] == []


def test_a_name_of_exactly_1024_bytes_is_written_and_read_back(
    client: storage.Client, bucket: str
) -> None:
    path = "m/" + "é" * 508 + "x.json"
    assert len(path.encode()) == 1024

    CloudStorage(client).write(bucket, path, b"{}", "application/json")

    assert client.bucket(bucket).blob(path).download_as_bytes() == b"{}"


@pytest.mark.parametrize("name", ["a\nb.json", "a\rb.json", ".", ".."])
def test_names_cloud_storage_refuses_are_refused(
    client: storage.Client, bucket: str, name: str
) -> None:
    with pytest.raises(google.api_core.exceptions.BadRequest):
        client.bucket(bucket).blob(name).upload_from_string(b"x")


@pytest.mark.parametrize("upload_type", ["media", "multipart", "resumable"])
def test_each_upload_type_is_checked_and_the_raw_emulator_stays_reachable(
    emulators: Stack, bucket: str, upload_type: str
) -> None:
    long_name = "x" * 1025
    url = f"{emulators.storage.url}/upload/storage/v1/b/{bucket}/o"
    if upload_type == "media":
        response = requests.post(
            url, params={"uploadType": "media", "name": long_name}, data=b"x", timeout=30
        )
    else:
        body = (
            b'--b\r\nContent-Type: application/json\r\n\r\n{"name": "'
            + long_name.encode()
            + b'"}\r\n--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--\r\n'
        )
        response = requests.post(
            url,
            params={"uploadType": upload_type},
            data=body if upload_type == "multipart" else b'{"name": "' + long_name.encode() + b'"}',
            headers={
                "Content-Type": "multipart/related; boundary=b"
                if upload_type == "multipart"
                else "application/json"
            },
            timeout=30,
        )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == 400
    assert emulators.storage_emulator is not None
    raw = requests.get(f"{emulators.storage_emulator.url}/storage/v1/b/{bucket}", timeout=30)
    assert raw.status_code == 200


def test_a_large_object_passes_through_the_proxy_unchanged(
    client: storage.Client, bucket: str
) -> None:
    data = bytes(range(256)) * 40_000  # 10 MB: resumable upload in chunks
    blob = client.bucket(bucket).blob("big/object.bin")
    blob.upload_from_string(data)

    assert client.bucket(bucket).blob("big/object.bin").download_as_bytes() == data
