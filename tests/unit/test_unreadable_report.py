"""What a read skipped as unreadable travels with its result and reaches the ops view."""

from __future__ import annotations

from datetime import UTC, datetime

from registration.domain.found import Found, Unreadable, unreadable_in
from registration.presenters.wire import status_json
from registration.services.status import StatusView, Totals
from registration.web.status_page import render_overview

OLD_BATCH = "buffers/0123/batches/000001"


def test_a_found_list_is_a_list_that_also_names_what_it_skipped() -> None:
    found = Found([1, 2], [Unreadable(OLD_BATCH, "KeyError: 'bucket'")])

    assert found == [1, 2]
    assert [item.path for item in unreadable_in(found, [3], found)] == [OLD_BATCH]


def test_the_status_page_and_json_name_the_unreadable_documents() -> None:
    view = StatusView(
        generated_at=datetime(2026, 11, 24, 9, 0, tzinfo=UTC),
        max_age_seconds=900,
        attention=[],
        buffers=[],
        totals=Totals(buffers=0, buffers_shown=0, pending_shown=0, rejected_by_reason={}),
        rejected=[],
        rejected_counts=[],
        unreadable=(OLD_BATCH,),
    )

    assert status_json(view)["unreadable"] == [OLD_BATCH]
    assert status_json(view)["unreadable_count"] == 1
    page = render_overview(view)
    assert 'id="unreadable"' in page and f"<code>{OLD_BATCH}</code>" in page
