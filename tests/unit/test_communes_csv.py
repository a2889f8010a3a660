"""The generator of town-import files used by tests and benchmarks."""

from __future__ import annotations

import csv
from pathlib import Path

from hub.domain.model import TownKind
from hub.reference import lookup
from tests.tools.communes_csv import main, website, write_communes_csv


def test_writes_count_real_communes_with_the_header(tmp_path: Path) -> None:
    path = tmp_path / "communes.csv"
    written = write_communes_csv(path, count=50, seed=7)
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["type", "code", "nom", "site"]
    assert len(rows) == 51 and len({row[1] for row in rows[1:]}) == 50
    assert [row[1] for row in rows[1:]] == [entry.code for entry in written]
    for kind, code, name, site in rows[1:]:
        entry = lookup(TownKind.COMMUNE, code)
        assert kind == "commune" and entry is not None and entry.name == name
        assert site.startswith("https://www.") and site.endswith(".fr")


def test_same_seed_same_bytes_other_seed_other_towns(tmp_path: Path) -> None:
    first, second, other = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    write_communes_csv(first)
    write_communes_csv(second)
    write_communes_csv(other, seed=1)
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes() != other.read_bytes()
    assert first.read_bytes().count(b"\n") == 1601


def test_site_is_an_ascii_slug_of_the_name() -> None:
    entry = lookup(TownKind.COMMUNE, "94038")
    assert entry is not None
    assert website(entry) == "https://www.l-hay-les-roses.fr"


def test_command_line(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    main([str(path), "12"])
    assert path.read_text(encoding="utf-8").count("\ncommune,") == 12
