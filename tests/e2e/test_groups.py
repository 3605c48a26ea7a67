"""Image groups, image sequences and DICOM series assembled from folders, end to end.

Real files are uploaded to the Storage emulator (the function reads DICOM headers from it);
events go over HTTP in shuffled order, and the sweep seals groups once their folder is quiet.
"""

from __future__ import annotations

import csv
import functools
import io
import operator
import random
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import google.cloud.storage as storage
import requests

from devstack import cloudevents
from devstack.samples import dicom_bytes
from devstack.stack import Process
from registration.manifest.urls import parse_object_url
from tests.e2e.conftest import Serve, read_manifests

QUIET = 2
GROUP_SETTINGS: dict[str, Any] = {
    "image_group_prefixes": "groups/",
    "image_sequence_prefixes": "seqs/",
    "group_quiet_seconds": QUIET,
    "max_age_seconds": QUIET,
}


def upload(
    gcs: storage.Client, bucket: str, name: str, data: bytes, content_type: str
) -> dict[str, Any]:
    blob = gcs.bucket(bucket).blob(name)
    blob.upload_from_string(data, content_type=content_type)
    blob.reload()
    return cloudevents.object_data(
        bucket, name, int(blob.generation or 1), size=len(data), content_type=content_type
    )


def send(server: Process, events: list[dict[str, Any]], threads: int = 8) -> None:
    with requests.Session() as session, ThreadPoolExecutor(threads) as pool:
        codes = list(
            pool.map(
                lambda data: cloudevents.finalize(server.url, data, session=session).status_code,
                events,
            )
        )
    assert all(code < 300 for code in codes), codes


def sweep_after_quiet(sweeper: Process) -> dict[str, Any]:
    time.sleep(QUIET + 0.5)
    summary: dict[str, Any] = requests.post(sweeper.url, timeout=120).json()
    assert summary["errors"] == []
    return summary


def group_elements(gcs: storage.Client, bucket: str, key: str) -> list[dict[str, Any]]:
    elements: list[dict[str, Any]] = []
    for body in read_manifests(gcs, bucket).values():
        elements.extend(body.get(key, []))
    return elements


def member_names(element: dict[str, Any]) -> list[str]:
    count = sum(1 for field in element if field.startswith("objectUrl_"))
    return [parse_object_url(element[f"objectUrl_{i}"])[1] for i in range(count)]


def frames(bucket: str, folder: str, count: int) -> list[dict[str, Any]]:
    events = [
        cloudevents.object_data(bucket, f"{folder}/frame{i}.png", 100 + i, content_type="image/png")
        for i in range(1, count + 1)
    ]
    random.Random(count).shuffle(events)
    return events


def test_a_sequence_is_registered_whole_in_natural_frame_order_once_its_folder_is_quiet(
    serve: Serve, bucket: str, gcs: storage.Client
) -> None:
    server = serve("on_storage_event", **GROUP_SETTINGS)
    sweeper = serve("sweep", **GROUP_SETTINGS)
    send(server, frames(bucket, "seqs/scene 1", 12))
    early = requests.post(sweeper.url, timeout=60).json()
    assert early["manifests_written"] == []  # not quiet yet: never registered unsealed
    sweep_after_quiet(sweeper)
    [element] = group_elements(gcs, bucket, "image_groups")
    assert element["title"] == "seqs/scene 1"
    assert element["createVideo"] is True
    assert member_names(element) == [f"seqs/scene 1/frame{i}.png" for i in range(1, 13)]


def test_images_under_a_group_prefix_form_an_image_group_and_others_stay_single_images(
    serve: Serve, bucket: str, gcs: storage.Client
) -> None:
    server = serve("on_storage_event", **GROUP_SETTINGS)
    sweeper = serve("sweep", **GROUP_SETTINGS)
    send(server, frames(bucket, "groups/set-a", 3) + frames(bucket, "plain", 2))
    sweep_after_quiet(sweeper)
    [element] = group_elements(gcs, bucket, "image_groups")
    assert element["createVideo"] is False
    assert len(member_names(element)) == 3
    singles = group_elements(gcs, bucket, "images")
    assert sorted(parse_object_url(item["objectUrl"])[1] for item in singles) == [
        "plain/frame1.png",
        "plain/frame2.png",
    ]


def test_a_file_arriving_after_its_group_was_sealed_starts_a_new_clearly_titled_group(
    serve: Serve, bucket: str, gcs: storage.Client
) -> None:
    server = serve("on_storage_event", **GROUP_SETTINGS)
    sweeper = serve("sweep", **GROUP_SETTINGS)
    send(server, frames(bucket, "seqs/late", 4))
    sweep_after_quiet(sweeper)
    late = cloudevents.object_data(bucket, "seqs/late/frame99.png", 999, content_type="image/png")
    send(server, [late])
    sweep_after_quiet(sweeper)
    elements = sorted(group_elements(gcs, bucket, "image_groups"), key=lambda e: e["title"])
    assert [e["title"] for e in elements] == ["seqs/late", "seqs/late (batch 2)"]
    assert member_names(elements[1]) == ["seqs/late/frame99.png"]
    assert len(member_names(elements[0])) == 4


def test_duplicate_and_concurrent_deliveries_into_one_group_register_each_frame_once(
    serve: Serve, bucket: str, gcs: storage.Client
) -> None:
    server = serve("on_storage_event", **GROUP_SETTINGS)
    sweeper = serve("sweep", **GROUP_SETTINGS)
    events = frames(bucket, "seqs/busy", 30)
    send(server, events * 3, threads=16)
    sweep_after_quiet(sweeper)
    [element] = group_elements(gcs, bucket, "image_groups")
    assert member_names(element) == [f"seqs/busy/frame{i}.png" for i in range(1, 31)]


def test_a_sequence_over_the_frame_limit_is_split_into_numbered_parts(
    serve: Serve, bucket: str, gcs: storage.Client
) -> None:
    settings = {**GROUP_SETTINGS, "max_sequence_frames": 5}
    server = serve("on_storage_event", **settings)
    sweeper = serve("sweep", **settings)
    send(server, frames(bucket, "seqs/long", 12))
    sweep_after_quiet(sweeper)
    manifests = read_manifests(gcs, bucket)
    assert len(manifests) == 1  # a group is never split across manifests
    elements = next(iter(manifests.values()))["image_groups"]
    assert [e["title"] for e in elements] == [f"seqs/long (part {i})" for i in (1, 2, 3)]
    assert [len(member_names(e)) for e in elements] == [5, 5, 2]
    assert functools.reduce(operator.iadd, (member_names(e) for e in elements), []) == [
        f"seqs/long/frame{i}.png" for i in range(1, 13)
    ]


def test_two_dicom_series_in_one_folder_become_two_series_ordered_by_instance_number(
    serve: Serve, bucket: str, gcs: storage.Client
) -> None:
    server = serve("on_storage_event", **GROUP_SETTINGS)
    sweeper = serve("sweep", **GROUP_SETTINGS)
    # Names deliberately disagree with InstanceNumber, so the order must come from headers.
    layout = {
        "ct/study/a.dcm": ("1.2.840.1", 3),
        "ct/study/b.dcm": ("1.2.840.1", 1),
        "ct/study/c.dcm": ("1.2.840.1", 2),
        "ct/study/d.dcm": ("1.2.840.2", 2),
        "ct/study/e.dcm": ("1.2.840.2", 1),
    }
    events = [
        upload(gcs, bucket, name, dicom_bytes(uid, number), "application/dicom")
        for name, (uid, number) in layout.items()
    ]
    random.Random(7).shuffle(events)
    send(server, events)
    sweep_after_quiet(sweeper)
    series = {e["title"]: member_names(e) for e in group_elements(gcs, bucket, "dicom_series")}
    assert series == {
        "ct/study [series 1.2.840.1]": ["ct/study/b.dcm", "ct/study/c.dcm", "ct/study/a.dcm"],
        "ct/study [series 1.2.840.2]": ["ct/study/e.dcm", "ct/study/d.dcm"],
    }


def test_an_extensionless_file_with_the_dicom_magic_is_registered_as_dicom(
    serve: Serve, bucket: str, gcs: storage.Client
) -> None:
    server = serve("on_storage_event", **GROUP_SETTINGS)
    sweeper = serve("sweep", **GROUP_SETTINGS)
    magic = upload(gcs, bucket, "mr/IM0001", dicom_bytes("9.9", 1), "application/octet-stream")
    other = upload(gcs, bucket, "mr/README", b"plain words", "application/octet-stream")
    send(server, [magic, other])
    sweep_after_quiet(sweeper)
    [element] = group_elements(gcs, bucket, "dicom_series")
    assert member_names(element) == ["mr/IM0001"]
    status = serve("status")
    rejected = {
        r["name"]: r["reason"] for r in requests.get(status.url, timeout=60).json()["rejected"]
    }
    assert rejected == {"mr/README": "unknown_type"}


def test_csv_manifests_parse_back_with_the_csv_module(
    serve: Serve, bucket: str, gcs: storage.Client
) -> None:
    settings = {**GROUP_SETTINGS, "manifest_format": "csv", "batch_images": 3}
    server = serve("on_storage_event", **settings)
    sweeper = serve("sweep", **settings)
    send(server, frames(bucket, "plain, with comma", 3) + frames(bucket, "seqs/csv", 2))
    sweep_after_quiet(sweeper)
    tables = {}
    for blob in gcs.list_blobs(bucket, prefix="encord-manifests/"):
        assert blob.name.endswith(".csv")
        rows = list(csv.reader(io.StringIO(blob.download_as_text())))
        tables[rows[0][1]] = rows
    images = tables["Image title"]
    assert images[0] == ["ObjectUrl", "Image title"]
    assert sorted(parse_object_url(row[0])[1] for row in images[1:]) == [
        f"plain, with comma/frame{i}.png" for i in (1, 2, 3)
    ]
    sequence = tables["Image group title"]
    assert sequence[0] == ["ObjectUrl", "Image group title", "Create video"]
    assert [row[1:] for row in sequence[1:]] == [["seqs/csv", "true"]] * 2
    assert all(not any(ch.isspace() for ch in row[0]) for row in images[1:] + sequence[1:])
