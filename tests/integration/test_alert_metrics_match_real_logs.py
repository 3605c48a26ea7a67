"""Every log-based metric of deploy/terraform/monitoring.tf counts lines the code REALLY
emits, not only the recorded samples: a pipeline run through the use cases (with the real
Encord SDK against the stub) is captured from stdout, and each metric's filter must match
at least one captured line, with every field its extractors read present.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from registration.adapters.encord_gateway import EncordGateway
from registration.domain.model import StorageObject
from registration.services.flush import write_manifest
from registration.services.intake import register
from registration.services.ports import Context
from registration.services.sweep import sweep
from registration.services.threshold import ThresholdGate
from tests.deploy import logquery
from tests.deploy.tools import resolve, terraform
from tests.support.clock import FakeClock
from tests.support.encord_stub import EncordStub
from tests.support.encord_target import EncordTarget
from tests.support.memory import MemoryBucket, MemoryStore, memory_backends

BUCKET = "raw"
SERVICE = "encord-registration-sweep"
EXTRACTOR = re.compile(r"jsonPayload\.(\w+)")


@pytest.fixture
def target() -> Iterator[EncordTarget]:
    with EncordStub(polls_until_done=0) as stub:
        yield EncordTarget.on(stub)


def captured_run(target: EncordTarget, capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """A run that makes every kind of line the alerts read: manifests written, rejections,
    an invalid manifest, a failing and a succeeding sweep, an Encord job that fails a file
    and one that ends in ERROR, and a submission Encord refuses."""
    clock = FakeClock()
    settings = target.settings(
        batch_images=2, manifest_format="json", max_age_seconds=60, encord_ignore_errors=False
    )
    encord = EncordGateway(
        integration=target.integration,
        folder=target.folder,
        domain=target.stub.url,
        ssh_private_key=target.private_key,
        ignore_errors=False,
    )
    store, bucket = MemoryStore(clock=clock), MemoryBucket()
    ctx = Context(settings, memory_backends(store, bucket, encord=encord), clock)
    gate = ThresholdGate()
    target.stub.fail_urls_matching(r"broken", error="Failed to read the file")
    for name in ("a/1.jpg", "a/2.jpg", "a/broken.jpg", "a/.hidden.jpg", "a/model.onnx"):
        register(ctx, StorageObject(BUCKET, name, 1, size=1), gate)
    clock.advance(61)
    sweep(ctx)  # writes a/broken.jpg's batch, polls both jobs: one ERROR, one DONE
    sweep(ctx)
    # A manifest that cannot be valid: an empty batch.
    claimed_invalid = _invalid_batch(ctx)
    write_manifest(ctx, claimed_invalid, [])
    target.stub.inject_unavailable(times=1)
    register(ctx, StorageObject(BUCKET, "b/1.jpg", 1, size=1), gate)
    register(ctx, StorageObject(BUCKET, "b/2.jpg", 1, size=1), gate)  # submission fails once
    store.save_pending_summary = _broken  # type: ignore[method-assign]
    register(ctx, StorageObject(BUCKET, "c/1.jpg", 1, size=1), gate)
    clock.advance(61)
    sweep(ctx)  # the summary write fails for c/: "sweep failed for buffer", sweep done ERROR
    lines = []
    for raw in capsys.readouterr().out.splitlines():
        try:
            lines.append(json.loads(raw))
        except ValueError:
            continue
    return lines


def _broken(*_args: Any, **_kwargs: Any) -> None:
    raise RuntimeError("Firestore unavailable (injected)")


def _invalid_batch(ctx: Context) -> Any:
    from registration.domain.model import BufferRef, ManifestKey

    buffer = BufferRef(BUCKET, "empty", ManifestKey.IMAGES)
    ctx.backends.buffers.ensure(buffer, ctx.clock())
    ctx.backends.records.add_pending(buffer, StorageObject(BUCKET, "empty/x.jpg", 1), ctx.clock())
    assert ctx.backends.batches.acquire_lease(buffer, 1, 60).value == "acquired"
    claimed = ctx.backends.batches.claim(
        buffer, 1, limit=1, minimum=1, now=ctx.clock(), manifest_bucket=BUCKET,
        manifest_path="encord-manifests/empty/images/000001-x.json",
    )  # fmt: skip
    assert claimed is not None
    return claimed.record


def test_every_alert_metric_counts_lines_the_code_really_emits(
    target: EncordTarget, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = captured_run(target, capsys)
    assert lines, "nothing was logged"
    entries = [logquery.log_entry(line, SERVICE) for line in lines]
    metrics = terraform().of_type("google_logging_metric")
    assert metrics
    for key, body in metrics.items():
        query = str(resolve(body["filter"]))
        matched = [entry for entry in entries if logquery.matches(query, entry)]
        assert matched, f"metric {key} matches no line the code emitted: {query}"
        extractors = [str(value) for value in (body.get("label_extractors") or {}).values()]
        if body.get("value_extractor"):
            extractors.append(str(body["value_extractor"]))
        for extractor in extractors:
            for field in EXTRACTOR.findall(extractor):
                assert any(field in entry["jsonPayload"] for entry in matched), (key, field)
