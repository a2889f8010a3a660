"""The reach's pure parts: starter packs split for the Bluesky app, a report summed and written."""

from __future__ import annotations

from datetime import UTC, datetime

from hub.domain.model import Platform
from hub.domain.reach import Counts, Round, Snapshot
from hub.publishers.bluesky_graph import Listed
from hub.services.reach import summarise
from hub.services.reach_report import page_totals, report_csv, report_lines
from hub.services.starter_packs import ITEM, _chunks, _item_writes

LIST_URI = "at://did:plc:c/app.bsky.graph.list/3abc"


def test_a_large_coalition_is_split_into_even_alphabetical_packs() -> None:
    members = [(f"Ville {n:03}", f"v{n}.test") for n in range(320)]
    chunks = _chunks(members)
    assert [len(c) for c in chunks] == [107, 107, 106]
    assert chunks[0][0][0] == "Ville 000" and chunks[1][0][0] == "Ville 107"
    assert _chunks([]) == []
    assert len(_chunks(members[:150])) == 1


def test_only_the_difference_is_written_to_the_list() -> None:
    items = [
        _listed("k1", "did:a"),
        _listed("k2", "did:b"),
        _listed("k3", "did:b"),  # a double left by an interrupted write
        _listed("k4", "did:z", "at://did:plc:c/app.bsky.graph.list/other"),
    ]
    writes = _item_writes(items, LIST_URI, ["did:a", "did:c"], "2026-12-03T00:00:00Z")
    deleted = sorted(w["rkey"] for w in writes if w["$type"].endswith("#delete"))
    created = [w["value"]["subject"] for w in writes if w["$type"].endswith("#create")]
    assert deleted == ["k2", "k3"] and created == ["did:c"]
    assert all(w["collection"] == ITEM for w in writes)


def test_a_report_sums_per_network_ranks_towns_and_counts_deletions() -> None:
    shots = [
        Snapshot(1, 10, Platform.BLUESKY, Counts(5, 1, 0, 0)),
        Snapshot(2, 10, Platform.MASTODON, Counts(1, 1, 1, 0)),
        Snapshot(3, 11, Platform.BLUESKY, Counts(20, 0, 0, 2)),
        Snapshot(4, 12, Platform.MASTODON, Counts(deleted=True)),
    ]
    read = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
    report = summarise(7, "Départ de X", Round(1, 7, 1, read, 0, read, None), shots, {10: "Pantin", 11: "Lyon"})
    assert report.totals[Platform.BLUESKY] == Counts(25, 1, 0, 2)
    assert report.total == Counts(26, 2, 1, 2) and report.deleted == 1
    assert [t.town for t in report.top] == ["Lyon", "Pantin"]
    lines = report_lines(report, "en")
    assert lines[1] == "Bluesky: 2 posts, 25 likes, 1 reposts, 0 replies, 2 quotes."
    assert "The towns with the most reach: Lyon (22), Pantin (9)." in lines
    assert report_csv(report).splitlines()[4] == "4,12,,mastodon,0,0,0,0,1"
    assert page_totals(report, "fr").startswith("26 j'aime, 2 partages, 1 réponses, 2 citations sur 4 publications")


def _listed(rkey: str, subject: str, list_uri: str = LIST_URI) -> Listed:
    return Listed(rkey, {"subject": subject, "list": list_uri})
