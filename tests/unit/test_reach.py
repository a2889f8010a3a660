"""The reach's pure parts: starter packs split for the Bluesky app, a report summed and written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.reach_reports import duration_text
from hub.domain.model import Platform, TownKind
from hub.domain.reach import Counts, Round, Snapshot, repost_news_due, repost_stage
from hub.publishers.base import PermanentPublishError, PublishError, TransientPublishError
from hub.publishers.bluesky_graph import Listed
from hub.reference.places import Place, place_of
from hub.services.pack_groups import OTHERS, PACK_SIZE, Member, pack_groups
from hub.services.reach import summarise
from hub.services.reach_report import page_totals, report_csv, report_lines
from hub.services.starter_packs import ITEM, _item_writes, pack_failure

LIST_URI = "at://did:plc:c/app.bsky.graph.list/3abc"


def _town(n: int, region: str | None, code: str | None = None, departement: str | None = None) -> Member:
    place = Place("", region, code, departement) if region else None
    return Member(f"Ville {n:04}", f"v{n}.test", place)


def test_a_coalition_that_fits_one_pack_gets_one_pack_in_name_order() -> None:
    members = [_town(n, "Bretagne" if n % 2 else None) for n in reversed(range(PACK_SIZE))]
    [group] = pack_groups(members)
    assert group.label == "" and [m.name for m in group.members] == sorted(m.name for m in members)
    assert pack_groups([]) == []


def test_a_large_coalition_gets_one_pack_per_region_in_name_order_and_the_others_last() -> None:
    members = [_town(n, "Île-de-France", "94", "Val-de-Marne") for n in range(100)]
    members += [_town(n, "Bretagne", "35", "Ille-et-Vilaine") for n in range(100, 160)]
    members += [_town(n, None) for n in range(160, 170)]
    groups = pack_groups(members)
    assert [(g.label, len(g.members)) for g in groups] == [("Bretagne", 60), ("Île-de-France", 100), (OTHERS, 10)]
    assert sorted(m.handle for g in groups for m in g.members) == sorted(m.handle for m in members)


def test_a_region_too_large_is_cut_by_departements_and_a_departement_too_large_alphabetically() -> None:
    members = [_town(n, "Occitanie", "09", "Ariège") for n in range(90)]
    members += [_town(n, "Occitanie", "11", "Aude") for n in range(90, 140)]  # fits with the Ariège: 140
    members += [_town(n, "Occitanie", "12", "Aveyron") for n in range(140, 240)]
    members += [_town(n, "Hauts-de-France", "62", "Pas-de-Calais") for n in range(1_000, 1_320)]
    groups = pack_groups(members)
    labels = [(g.label, len(g.members), g.details) for g in groups]
    assert labels[:3] == [
        ("Hauts-de-France (1/3)", 107, "Pas-de-Calais : Ville 1000 – Ville 1106"),
        ("Hauts-de-France (2/3)", 107, "Pas-de-Calais : Ville 1107 – Ville 1213"),
        ("Hauts-de-France (3/3)", 106, "Pas-de-Calais : Ville 1214 – Ville 1319"),
    ]
    assert labels[3:] == [("Occitanie (1/2)", 140, "Ariège, Aude"), ("Occitanie (2/2)", 100, "Aveyron")]
    assert all(len(g.members) <= PACK_SIZE for g in groups)
    assert sum(len(g.members) for g in groups) == len(members)


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


def test_a_towns_region_and_departement_come_from_its_official_code() -> None:
    kremlin = place_of(TownKind.COMMUNE, "94043")
    assert kremlin == Place("11", "Île-de-France", "94", "Val-de-Marne")
    assert place_of(TownKind.COMMUNE, "2A004") == Place("94", "Corse", "2A", "Corse-du-Sud")
    assert place_of(TownKind.COMMUNE, "20004") == Place("94", "Corse")  # before 1976: the island, not a side
    assert place_of(TownKind.COMMUNE, "97411") == Place("04", "La Réunion", "974", "La Réunion")
    assert place_of(TownKind.DEPARTEMENT, "34") == Place("76", "Occitanie", "34", "Hérault")
    assert place_of(TownKind.REGION, "53") == Place("53", "Bretagne")
    assert place_of(TownKind.EPCI, "200054781") is None and place_of(TownKind.OTHER, None) is None
    assert place_of(TownKind.COMMUNE, "97501") is None  # Saint-Pierre-et-Miquelon: in no région


def test_a_long_repost_request_is_told_at_most_five_times_whatever_its_size() -> None:
    for total in (3, 100, 3_200):
        told: str | None = None
        said = []
        for done in range(total + 1):
            reached = repost_stage(done, total, finished=done == total, stopped=False, long=True)
            if repost_news_due(told, reached):
                said.append(reached)
                told = reached
        assert said[0] == "planned" and said[-1] == "done" and len(said) <= 5, said
        assert said == (["planned", "25", "50", "75", "done"] if total >= 4 else said)
    # A short one: its start and its end only; a retraction ends the telling.
    assert repost_stage(60, 100, finished=False, stopped=False, long=False) == "planned"
    assert repost_stage(60, 100, finished=False, stopped=True, long=True) == "stopped"
    assert not repost_news_due("done", "stopped") and not repost_news_due("50", "25")
    assert repost_news_due(None, "75")  # a bot that was away tells where it is now, not every stage missed


def test_a_durations_reads_in_minutes_then_hours() -> None:
    assert duration_text(timedelta(seconds=4), "fr") == "1 min"
    assert duration_text(timedelta(minutes=42), "fr") == "42 min"
    assert duration_text(timedelta(hours=6, minutes=5), "fr") == "6 h 05"


@pytest.mark.parametrize(
    ("error", "fr", "en"),
    [
        (TransientPublishError("publish.bluesky.network", detail="TimeoutError"), "relancez !pack", "run !pack again"),
        (
            PermanentPublishError("publish.bluesky.credentials", reconnect=True, detail="AuthFactorTokenRequired"),
            "!compte-coalition bluesky",
            "!coalition-account bluesky",
        ),
        (
            PermanentPublishError("publish.bluesky.refused", detail="InvalidRecord"),
            "« InvalidRecord »",
            "InvalidRecord",
        ),
    ],
)
def test_a_failed_pack_write_is_told_as_the_packs_trouble_with_what_to_do(
    error: PublishError, fr: str, en: str
) -> None:
    told = pack_failure(error, "Petites villes")
    assert fr in told.message("fr") and "Petites villes" in told.message("fr")
    assert en in told.message("en")
    # Not the town-post wording of the same error ("correct the town's text or images").
    assert "texte ou les images de la ville" not in told.message("fr")
    assert "texte ou les images de la ville" in PermanentPublishError("publish.bluesky.refused", detail="x").message()
