"""What Encord is sent for a written manifest: JSON as written, CSV rows as Encord's JSON."""

from __future__ import annotations

import json

from registration.domain.model import GroupUnit, ManifestKey, StorageObject
from registration.manifest.build import build_manifest
from registration.manifest.readback import encord_document
from registration.manifest.render import render_csv, render_json


def images() -> list[StorageObject]:
    return [StorageObject("b", f"cam/{name}", 1, size=3) for name in ("1+(32).jpg", "a b.jpg")]


def test_a_json_manifest_is_sent_exactly_as_written() -> None:
    manifest = build_manifest(ManifestKey.IMAGES, images(), url_style="https", name="m.json")
    data = render_json(manifest)
    assert encord_document(ManifestKey.IMAGES, data, "json") == json.loads(data)


def test_a_csv_manifest_is_sent_as_the_items_its_rows_list() -> None:
    manifest = build_manifest(ManifestKey.IMAGES, images(), url_style="https", name="m.csv")
    document = encord_document(ManifestKey.IMAGES, render_csv(manifest), "csv")
    from_json = json.loads(render_json(manifest))
    assert document["skip_duplicate_urls"] is True
    assert [item["objectUrl"] for item in document["images"]] == [
        item["objectUrl"] for item in from_json["images"]
    ]


def test_a_csv_of_groups_is_sent_as_one_item_per_group_with_its_members_in_order() -> None:
    def frames(folder: str) -> tuple[StorageObject, ...]:
        return tuple(StorageObject("b", f"{folder}/f{i}.jpg", 1, size=3) for i in range(3))

    units = [GroupUnit("seq one", frames("one"), True), GroupUnit("two", frames("two"), False)]
    manifest = build_manifest(ManifestKey.IMAGE_GROUPS, units, url_style="gs", name="m.csv")
    document = encord_document(ManifestKey.IMAGE_GROUPS, render_csv(manifest), "csv")
    assert document["image_groups"] == [
        {
            "title": "seq one",
            "createVideo": True,
            **{f"objectUrl_{i}": f"gs://b/one/f{i}.jpg" for i in range(3)},
        },
        {
            "title": "two",
            "createVideo": False,
            **{f"objectUrl_{i}": f"gs://b/two/f{i}.jpg" for i in range(3)},
        },
    ]
    assert document == json.loads(render_json(manifest))
