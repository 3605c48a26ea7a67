"""The function over HTTP: binary CloudEvents in, manifests read back from the Storage emulator."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import google.cloud.storage as storage
import requests

from devstack import cloudevents
from devstack.stack import Stack, StackError, start_function
from tests.e2e.conftest import Serve, read_manifests, registered_names


def images(bucket: str, count: int, folder: str = "site-a/cam 1") -> list[dict[str, object]]:
    return [
        cloudevents.object_data(
            bucket, f"{folder}/frame_{i:04d}.jpg", 1000 + i, content_type="image/jpeg"
        )
        for i in range(count)
    ]


def post_all(url: str, events: list[dict[str, object]], threads: int = 16) -> list[int]:
    with requests.Session() as session, ThreadPoolExecutor(threads) as pool:
        return list(
            pool.map(
                lambda data: cloudevents.finalize(url, data, session=session).status_code, events
            )
        )


def test_a_full_batch_of_images_becomes_exactly_one_manifest_of_that_size(
    serve: Serve, bucket: str, gcs: storage.Client
) -> None:
    server = serve("on_storage_event", batch_images=10)
    codes = post_all(server.url, images(bucket, 15), threads=1)
    assert set(codes) == {200}
    manifests = read_manifests(gcs, bucket)
    assert len(manifests) == 1
    [(path, body)] = manifests.items()
    assert path.startswith("encord-manifests/site-a/cam 1/images/")
    assert path.endswith(".json")
    assert len(body["images"]) == 10
    assert list(body)[-1] == "skip_duplicate_urls"
    assert body["skip_duplicate_urls"] is True


def test_sixteen_concurrent_events_across_a_threshold_give_one_full_manifest_and_lose_nothing(
    serve: Serve, bucket: str, gcs: storage.Client
) -> None:
    server = serve("on_storage_event", batch_images=40, max_age_seconds=1)
    sweeper = serve("sweep", batch_images=40, max_age_seconds=1)
    events = images(bucket, 50)
    assert all(code < 300 for code in post_all(server.url, events, threads=16))
    manifests = read_manifests(gcs, bucket)
    assert [len(body["images"]) for body in manifests.values()] == [40]
    time.sleep(1.2)
    summary = requests.post(sweeper.url, timeout=120).json()
    assert summary["errors"] == []
    names = registered_names(read_manifests(gcs, bucket))
    assert sorted(names) == sorted(str(e["name"]) for e in events)


def test_duplicate_deliveries_under_new_event_ids_register_each_object_once(
    serve: Serve, bucket: str, gcs: storage.Client
) -> None:
    server = serve("on_storage_event", batch_images=12)
    events = images(bucket, 12)
    assert all(code < 300 for code in post_all(server.url, events * 3, threads=8))
    names = registered_names(read_manifests(gcs, bucket))
    assert sorted(names) == sorted(str(e["name"]) for e in events)


def test_a_drop_of_1000_images_and_100_videos_yields_one_manifest_of_each(
    serve: Serve, bucket: str, gcs: storage.Client
) -> None:
    server = serve("on_storage_event")
    events = images(bucket, 1000, folder="drop")
    events += [
        cloudevents.object_data(bucket, f"drop/clip_{i:03d}.MP4", 5000 + i, content_type=None)
        for i in range(100)
    ]
    assert all(code < 300 for code in post_all(server.url, events))
    manifests = read_manifests(gcs, bucket)
    counts = sorted(
        (next(iter(body)), len(next(iter(body.values())))) for body in manifests.values()
    )
    assert counts == [("images", 1000), ("videos", 100)]
    assert len(set(registered_names(manifests))) == 1100


def test_awkward_names_round_trip_through_the_manifest_urls(
    serve: Serve, bucket: str, gcs: storage.Client
) -> None:
    names = [
        "odd/1+(32).jpg",
        "odd/with space.jpg",
        "odd/hash#tag.jpg",
        "odd/what?.jpg",
        "odd/100%.jpg",
        "odd/literal%20.jpg",
        "odd/写真 一.JPG",
        "odd/Ωμέγα.PNG",
        "odd/صورة.jpeg",
        "odd/emoji 📷.webp",
    ]
    server = serve("on_storage_event", batch_images=len(names))
    events = [cloudevents.object_data(bucket, n, 7) for n in names]
    assert all(code < 300 for code in post_all(server.url, events, threads=4))
    manifests = read_manifests(gcs, bucket)
    assert sorted(registered_names(manifests)) == sorted(names)
    for body in manifests.values():
        for item in body["images"]:
            assert " " not in item["objectUrl"]
            assert item["objectUrl"].startswith(f"https://storage.cloud.google.com/{bucket}/")


def test_every_spec_type_lands_under_its_manifest_key(
    serve: Serve, bucket: str, gcs: storage.Client
) -> None:
    kinds = {
        "t/a.png": "images",
        "t/b.TIFF": "images",
        "t/c.mov": "videos",
        "t/d.mkv": "videos",
        "t/e.flac": "audio",
        "t/f.m4a": "audio",
        "t/g.pdf": "pdfs",
        "t/h.htm": "text",
        "t/i.xml": "text",
        "t/j.nii.gz": "nifti",
        "t/k.nii": "nifti",
        "t/l.dcm": "dicom_series",
        "t/m.DICOM": "dicom_series",
        "t/noext": "images",
    }
    settings = {"max_age_seconds": 1, "group_quiet_seconds": 1}
    server = serve("on_storage_event", **settings)
    sweeper = serve("sweep", **settings)
    events = [
        cloudevents.object_data(
            bucket, name, 3, content_type="image/png" if name == "t/noext" else None
        )
        for name in kinds
    ]
    assert all(code < 300 for code in post_all(server.url, events, threads=4))
    time.sleep(1.5)
    assert requests.post(sweeper.url, timeout=120).json()["errors"] == []
    found: dict[str, str] = {}
    for body in read_manifests(gcs, bucket).values():
        key = next(k for k in body if k != "skip_duplicate_urls")
        for name in registered_names({"m": {key: body[key]}}):
            found[name] = key
    assert found == kinds


def test_text_metadata_comes_from_the_event_and_custom_metadata_becomes_client_metadata(
    serve: Serve, bucket: str, gcs: storage.Client
) -> None:
    server = serve("on_storage_event", batch_text=1, batch_videos=1)
    text = cloudevents.object_data(bucket, "docs/a.txt", 1, size=321, content_type="text/plain")
    video = cloudevents.object_data(
        bucket,
        "v/a.mp4",
        1,
        size=9,
        content_type="video/mp4",
        metadata={"keyframes": "[0, 5]", "site": "north"},
    )
    assert all(code < 300 for code in post_all(server.url, [text, video], threads=1))
    bodies = {next(iter(body)): body for body in read_manifests(gcs, bucket).values()}
    [text_item] = bodies["text"]["text"]
    assert text_item["textMetadata"] == {"fileSize": 321, "mime_type": "text/plain"}
    [video_item] = bodies["videos"]["videos"]
    assert video_item["clientMetadata"] == {"keyframes": "[0, 5]", "site": "north"}
    assert "videoMetadata" not in video_item


def test_objects_that_cannot_be_registered_are_recorded_with_their_reason(
    serve: Serve, bucket: str, gcs: storage.Client
) -> None:
    server = serve("on_storage_event", batch_images=1)
    status = serve("status")
    rejected = {
        "a/.hidden.jpg": "hidden_file",
        "a/.git/x.png": "hidden_file",
        "a/folder/": "folder_placeholder",
        "a/model.onnx": "unknown_type",
        "a/" + "n" * 301 + ".jpg": "name_too_long",
    }
    events = [cloudevents.object_data(bucket, name, 1) for name in rejected]
    events.append(cloudevents.object_data(bucket, "encord-manifests/a/images/x.json", 1))
    assert all(code < 300 for code in post_all(server.url, events, threads=1))
    assert read_manifests(gcs, bucket) == {}
    report = requests.get(status.url, timeout=60).json()
    recorded = {item["name"]: item["reason"] for item in report["rejected"]}
    assert recorded == rejected  # the manifest-prefix object is ignored silently


def test_malformed_events_are_acknowledged_and_never_answered_5xx(serve: Serve) -> None:
    server = serve("on_storage_event")
    bodies: list[dict[str, object] | str] = [
        "this is not json",
        {"name": "x.jpg", "generation": "1"},
        {"bucket": "b", "name": "", "generation": "1"},
        {"bucket": "b", "name": "x.jpg", "generation": "abc"},
        {"bucket": "b", "name": "x.jpg", "generation": "1", "size": "-4"},
        {"bucket": "b", "name": "x.jpg", "generation": "1", "metadata": ["not", "a", "map"]},
    ]
    for body in bodies:
        response = cloudevents.finalize(server.url, body)  # type: ignore[arg-type]
        assert response.status_code < 500, (body, response.status_code)
    unknown = cloudevents.post(
        server.url,
        "google.cloud.storage.object.v1.archived",
        cloudevents.object_data("b", "x.jpg", 1),
    )
    assert unknown.status_code < 300
    no_cloudevent = requests.post(
        server.url, data="{}", timeout=30, headers={"Content-Type": "application/json"}
    )
    assert 400 <= no_cloudevent.status_code < 500


def test_an_invalid_setting_stops_start_up_with_an_error_naming_the_variable(
    emulators: Stack,
) -> None:
    env = emulators.env({"REGISTRATION_BATCH_IMAGES": "0"})
    try:
        process = start_function("on_storage_event", env, emulators.log_dir)
    except StackError as error:
        assert "REGISTRATION_BATCH_IMAGES" in str(error)
    else:
        process.stop()
        raise AssertionError("the function started with REGISTRATION_BATCH_IMAGES=0")


def test_a_delete_withdraws_a_pending_object_and_a_delete_before_finalize_wins(
    serve: Serve, bucket: str, gcs: storage.Client
) -> None:
    settings = {"max_age_seconds": 1}
    server = serve("on_storage_event", **settings)
    sweeper = serve("sweep", **settings)
    keep = cloudevents.object_data(bucket, "d/keep.jpg", 1)
    gone = cloudevents.object_data(bucket, "d/gone.jpg", 1)
    early = cloudevents.object_data(bucket, "d/early.jpg", 1)
    for data in (keep, gone):
        assert cloudevents.finalize(server.url, data).status_code < 300
    assert cloudevents.delete(server.url, gone).status_code < 300
    assert cloudevents.delete(server.url, early).status_code < 300
    assert cloudevents.finalize(server.url, early).status_code < 300
    time.sleep(1.2)
    requests.post(sweeper.url, timeout=60).raise_for_status()
    assert registered_names(read_manifests(gcs, bucket)) == ["d/keep.jpg"]


def test_an_overwrite_replaces_the_pending_generation_and_an_old_delete_keeps_it(
    serve: Serve, bucket: str, gcs: storage.Client
) -> None:
    settings = {"max_age_seconds": 1}
    server = serve("on_storage_event", **settings)
    sweeper = serve("sweep", **settings)
    old = cloudevents.object_data(bucket, "o/x.jpg", 1, size=10)
    new = cloudevents.object_data(bucket, "o/x.jpg", 2, size=20)
    for send, data in (
        (cloudevents.finalize, new),
        (cloudevents.finalize, old),
        (cloudevents.delete, old),
    ):
        assert send(server.url, data).status_code < 300
    time.sleep(1.2)
    requests.post(sweeper.url, timeout=60).raise_for_status()
    assert registered_names(read_manifests(gcs, bucket)) == ["o/x.jpg"]


def test_a_failure_after_the_claim_answers_5xx_and_the_sweep_finishes_the_batch(
    serve: Serve, bucket: str, gcs: storage.Client
) -> None:
    faulty = serve("on_storage_event", batch_images=3, faults="flush.after_claim=raise")
    events = images(bucket, 3)
    codes = [cloudevents.finalize(faulty.url, data).status_code for data in events]
    assert codes == [200, 200, 500]  # the third event claimed the batch, then failed
    assert read_manifests(gcs, bucket) == {}
    sweeper = serve("sweep", batch_images=3, lease_seconds=1)
    time.sleep(1.2)
    summary = requests.post(sweeper.url, timeout=60).json()
    assert len(summary["batches_completed"]) == 1
    assert sorted(registered_names(read_manifests(gcs, bucket))) == sorted(
        str(e["name"]) for e in events
    )
    # A second sweep finds nothing left to do: finishing is idempotent.
    again = requests.post(sweeper.url, timeout=60).json()
    assert again["batches_completed"] == [] and again["manifests_written"] == []


def test_invalid_manifest_format_is_refused_at_start_up(emulators: Stack) -> None:
    env = emulators.env({"REGISTRATION_MANIFEST_FORMAT": "xml"})
    try:
        process = start_function("sweep", env, emulators.log_dir)
    except StackError as error:
        assert "REGISTRATION_MANIFEST_FORMAT" in str(error)
    else:
        process.stop()
        raise AssertionError("started with an invalid manifest format")


def test_sweep_answers_only_post(serve: Serve) -> None:
    sweeper = serve("sweep")
    assert requests.get(sweeper.url, timeout=30).status_code == 405
    response = requests.post(sweeper.url, timeout=60)
    assert response.status_code == 200
    assert set(response.json()) >= {"buffers_flushed", "batches_completed", "errors"}
