"""domain/encord_items.py: a finished job's items matched to the batch's units, never guessed."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from registration.domain.encord_items import (
    EncordItem,
    ExpectedUnit,
    JobItems,
    LinkOutcome,
    match_items,
)

URL = "https://storage.cloud.google.com/b/cam/{}"


def unit(title: str, *urls: str) -> ExpectedUnit:
    return ExpectedUnit(title, urls or (URL.format(title),))


def test_items_are_matched_to_units_by_their_unique_names() -> None:
    units = [unit("a.jpg"), unit("b.jpg")]
    items = [EncordItem("u-b", "b.jpg"), EncordItem("u-a", "a.jpg")]
    match = match_items(units, items)
    assert {(u.title, i.item_uuid) for u, i in match.matched} == {
        ("a.jpg", "u-a"),
        ("b.jpg", "u-b"),
    }
    assert match.complete


def test_an_items_url_decides_over_its_name() -> None:
    units = [unit("a.jpg"), unit("b.jpg")]
    # Names swapped on purpose: the URLs say which is which.
    items = [
        EncordItem("u-1", "b.jpg", url=URL.format("a.jpg")),
        EncordItem("u-2", "a.jpg", url=URL.format("b.jpg")),
    ]
    match = match_items(units, items)
    assert {(u.title, i.item_uuid) for u, i in match.matched} == {
        ("a.jpg", "u-1"),
        ("b.jpg", "u-2"),
    }


def test_two_items_with_one_name_are_not_told_apart_by_guessing() -> None:
    units = [unit("a.jpg")]
    items = [EncordItem("u-1", "a.jpg"), EncordItem("u-2", "a.jpg")]
    match = match_items(units, items)
    assert match.matched == ()
    assert match.unmatched_units == tuple(units)
    assert {i.item_uuid for i in match.unmatched_items} == {"u-1", "u-2"}
    assert not match.complete


def test_two_units_with_one_title_are_left_unmatched() -> None:
    units = [unit("seq", "gs://b/1.jpg", "gs://b/2.jpg"), unit("seq", "gs://b/3.jpg")]
    items = [EncordItem("u-1", "seq")]
    match = match_items(units, items)
    assert match.matched == ()
    assert len(match.unmatched_units) == 2


def test_a_group_is_matched_by_title_since_it_has_no_url_of_its_own() -> None:
    group = unit("cam 1", "gs://b/cam 1/0.jpg", "gs://b/cam 1/1.jpg")
    match = match_items([group], [EncordItem("u-g", "cam 1", url=None)])
    assert [(u.title, i.item_uuid) for u, i in match.matched] == [("cam 1", "u-g")]


def test_an_item_whose_url_is_another_files_is_not_matched_by_name() -> None:
    units = [unit("a.jpg")]
    items = [EncordItem("u-1", "a.jpg", url=URL.format("elsewhere.jpg"))]
    match = match_items(units, items)
    assert match.matched == ()
    assert match.unmatched_items == tuple(items)


def test_a_unit_skipped_as_a_duplicate_has_no_item_and_stays_unmatched() -> None:
    units = [unit("a.jpg"), unit("b.jpg")]
    match = match_items(units, [EncordItem("u-a", "a.jpg")])
    assert [u.title for u in match.unmatched_units] == ["b.jpg"]
    assert match.unmatched_items == ()


def test_a_job_has_finished_only_in_a_final_status() -> None:
    assert not JobItems("j", "PENDING", ()).finished
    assert JobItems("j", "DONE", ()).finished
    assert JobItems("j", "CANCELLED", ()).finished


def test_a_link_outcome_names_the_items_skipped_as_already_linked() -> None:
    outcome = LinkOutcome("ds", requested=("a", "b", "c"), linked=("b",))
    assert outcome.skipped == ("a", "c")


# -- properties: whatever the job reports, a match is never wrong


@given(
    st.lists(st.sampled_from("abcdefgh"), min_size=1, max_size=8, unique=True),
    st.data(),
)
def test_every_match_is_the_units_own_item_and_ambiguity_is_never_resolved_by_guessing(
    titles: list[str], data: st.DataObject
) -> None:
    units = [unit(f"{t}.jpg") for t in titles]
    truth = {u.title: f"item-{u.title}" for u in units}
    # The job registered a subset (the rest were refused or skipped as duplicates), may or may
    # not carry URLs, and may report names that clash.
    registered = data.draw(st.lists(st.sampled_from(units), unique=True), label="registered")
    items = [
        EncordItem(truth[u.title], u.title, u.urls[0] if data.draw(st.booleans()) else None)
        for u in registered
    ]
    clash = data.draw(st.booleans(), label="clash")
    if clash and items:
        items.append(EncordItem("item-clash", items[0].name))

    match = match_items(units, items)

    for u, item in match.matched:
        assert item.item_uuid == truth[u.title]
    matched_uuids = [i.item_uuid for _, i in match.matched]
    assert len(matched_uuids) == len(set(matched_uuids))
    assert len(match.matched) + len(match.unmatched_units) == len(units)
    assert len(match.matched) + len(match.unmatched_items) == len(items)
    if not clash:
        # Unique names and titles: every registered unit is found.
        assert {u.title for u, _ in match.matched} == {u.title for u in registered}
