"""Bulk import of towns: real communes by code, idempotent, all or nothing, with line numbers."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import sqlalchemy as sa

from hub.core import OPERATOR, Hub
from hub.domain.model import Role, TownKind
from hub.errors import ImportRejected, InvalidInput
from hub.store.models import TownRow
from tests.tools.communes_csv import write_communes_csv


async def _updated_at(hub: Hub) -> dict[int, object]:
    async with hub.store.engine.connect() as connection:
        rows = await connection.execute(sa.select(TownRow.id, TownRow.updated_at))
        return {row.id: row.updated_at for row in rows}


async def test_1600_real_communes_import_once_and_again_changes_nothing(hub: Hub, tmp_path: Path) -> None:
    path = tmp_path / "pvd.csv"
    chosen = write_communes_csv(path, 1600)

    first = await hub.towns.import_file(OPERATOR, path)
    assert len(first.created) == 1600 and not first.updated and not first.unchanged
    towns = {t.code: t for t in await hub.towns.list()}
    assert len(towns) == 1600
    assert {code: t.name for code, t in towns.items()} == {e.code: e.name for e in chosen}
    before = await _updated_at(hub)

    second = await hub.towns.import_file(OPERATOR, path)
    assert len(second.unchanged) == 1600 and not second.created and not second.updated
    assert await _updated_at(hub) == before


async def test_one_bad_row_imports_nothing_and_names_the_row(hub: Hub, tmp_path: Path) -> None:
    path = tmp_path / "pvd.csv"
    write_communes_csv(path, 50)
    rows = list(csv.reader(path.read_text("utf-8").splitlines()))
    rows[31][1] = "93505"  # a mistyped INSEE code on file line 32
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)

    with pytest.raises(ImportRejected) as caught:
        await hub.towns.import_file(OPERATOR, path)
    message = caught.value.message("fr")
    assert "Rien n'a été importé" in message
    assert "Ligne 32" in message and "93505" in message and "93055 Pantin" in message
    assert [p.line for p in caught.value.problems] == [32]  # type: ignore[attr-defined]
    assert await hub.towns.list() == []


async def test_official_name_comes_from_the_code_and_update_keeps_the_key(hub: Hub, tmp_path: Path) -> None:
    path = tmp_path / "towns.csv"
    path.write_text("type;code;nom;site\ncommune;94038;;https://www.lhaylesroses.fr\n", "utf-8")
    report = await hub.towns.import_file(OPERATOR, path)
    assert report.created == [(2, "L'Haÿ-les-Roses")]

    path.write_text("type;code;nom;site\ncommune;94038;;https://www.ville-lhaylesroses.fr\n", "utf-8")
    report = await hub.towns.import_file(OPERATOR, path)
    assert report.updated == [(2, "L'Haÿ-les-Roses")]
    (town,) = await hub.towns.list()
    assert town.profile["website"] == "https://www.ville-lhaylesroses.fr"


async def test_yaml_with_other_organisations_epci_and_officers(hub: Hub, tmp_path: Path) -> None:
    path = tmp_path / "towns.yaml"
    path.write_text(
        "- type: epci\n  code: '243500139'\n  officiers: '@comm:rennes.test'\n"
        "- type: autre\n  nom: Université de Poitiers\n  site: https://www.univ-poitiers.fr\n"
        "- type: région\n  code: '53'\n",
        "utf-8",
    )
    report = await hub.towns.import_file(OPERATOR, path)
    assert [name for _, name in report.created] == ["Rennes Métropole", "Université de Poitiers", "Bretagne"]
    assert report.officers_added == 1
    towns = {t.name: t for t in await hub.towns.list()}
    assert towns["Université de Poitiers"].kind is TownKind.OTHER and towns["Université de Poitiers"].code is None
    async with hub.store.unit() as uow:
        assert await uow.roles.holders(Role.OFFICER, town_id=towns["Rennes Métropole"].id) == ["@comm:rennes.test"]
    # An organisation without a code is keyed by its name: importing it again changes nothing.
    again = await hub.towns.import_file(OPERATOR, path)
    assert len(again.unchanged) == 3


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("type,code,nom\ncommune,,Pantin\n", "Ligne 2 : Code officiel manquant"),
        ("type,code,nom\nville,93055,\n", "Ligne 2 : Type « ville » inconnu"),
        ("type,code,nom\nautre,12345,Asso\n", "Ligne 2 : Une organisation de type « autre » n'a pas de code"),
        (
            "type,code,nom,site\ncommune,93055,,pantin.fr\n",
            "Ligne 2 : « pantin.fr » n'est pas une adresse web",
        ),
        (
            "type,code,fuseau\ncommune,93055,Europe/Pariss\n",
            "Ligne 2 : Fuseau horaire inconnu « Europe/Pariss »",
        ),
        ("type,code,officiers\ncommune,93055,bob\n", "Ligne 2 : « bob » n'est pas un identifiant Matrix"),
        ("type,code\ncommune,93055\ncommune,93055\n", "Ligne 3 : Pantin figure déjà ligne 2"),
    ],
)
async def test_each_bad_row_is_explained(hub: Hub, tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "towns.csv"
    path.write_text(content, "utf-8")
    with pytest.raises(ImportRejected) as caught:
        await hub.towns.import_file(OPERATOR, path)
    assert expected in caught.value.message("fr")
    assert await hub.towns.list() == []


async def test_unknown_columns_and_encoding_are_refused(hub: Hub, tmp_path: Path) -> None:
    path = tmp_path / "towns.csv"
    path.write_text("type,code,webiste\ncommune,93055,https://pantin.fr\n", "utf-8")
    with pytest.raises(InvalidInput, match="webiste"):
        await hub.towns.import_file(OPERATOR, path)
    path.write_bytes("type,code,nom\nautre,,Université\n".encode("latin-1"))
    with pytest.raises(InvalidInput) as caught:
        await hub.towns.import_file(OPERATOR, path)
    assert "UTF-8" in caught.value.message("fr")


async def test_importing_into_a_coalition_needs_its_coordinator(hub: Hub, tmp_path: Path) -> None:
    from hub.errors import PermissionDenied
    from tests.conftest import ADMIN

    coalition = await hub.coalitions.create(ADMIN, "Petites Villes de demain", "!pvd:unisson.test")
    path = tmp_path / "towns.csv"
    path.write_text("code\n93055\n94043\n", "utf-8")
    with pytest.raises(PermissionDenied):
        await hub.towns.import_file("@someone:unisson.test", path, coalition.id)
    await hub.coalitions.appoint_coordinator(ADMIN, coalition.id, "@coord:unisson.test")
    report = await hub.towns.import_file("@coord:unisson.test", path, coalition.id)
    assert report.members_added == 2
    assert [t.name for t in await hub.coalitions.members(coalition.id)] == ["Le Kremlin-Bicêtre", "Pantin"]
