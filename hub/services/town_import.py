"""Reading a list of towns (CSV or YAML) into checked values, row by row, with line numbers.

Nothing is stored here: :class:`hub.services.towns.TownService` stores the rows only when every one is valid.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hub import reference
from hub.domain.identifiers import (
    check_matrix_user_id,
    check_timezone,
    check_web_url,
    normalize_bluesky_handle,
    normalize_mastodon_handle,
)
from hub.domain.model import TownKind
from hub.errors import InvalidInput, Problem, UnissonError
from hub.i18n import translate
from hub.store.repositories import TownValues

COLUMNS: dict[str, tuple[str, ...]] = {
    "kind": ("type", "kind", "nature"),
    "code": ("code", "code_insee", "insee", "siren"),
    "name": ("nom", "name"),
    "timezone": ("fuseau", "fuseau_horaire", "timezone"),
    "website": ("site", "website", "site_web"),
    "newsletter": ("newsletter", "lettre"),
    "bluesky": ("bluesky",),
    "mastodon": ("mastodon",),
    "officers": ("officiers", "officers", "referents"),
}
_ALIASES = {alias: column for column, aliases in COLUMNS.items() for alias in aliases}

KINDS: dict[str, TownKind] = {
    "commune": TownKind.COMMUNE,
    "epci": TownKind.EPCI,
    "intercommunalite": TownKind.EPCI,
    "intercommunalité": TownKind.EPCI,
    "departement": TownKind.DEPARTEMENT,
    "département": TownKind.DEPARTEMENT,
    "region": TownKind.REGION,
    "région": TownKind.REGION,
    "autre": TownKind.OTHER,
    "other": TownKind.OTHER,
    "organisation": TownKind.OTHER,
    "association": TownKind.OTHER,
    "universite": TownKind.OTHER,
    "université": TownKind.OTHER,
}


class RowProblem(Problem):
    """A rejected row: its line in the file and why."""

    def __init__(self, line: int, cause: UnissonError) -> None:
        super().__init__("error.import.row", line=line)
        self.line = line
        self.cause = cause

    def message(self, lang: str = "fr") -> str:
        return translate("error.import.row", lang, line=self.line, detail=self.cause.message(lang))


@dataclass(frozen=True, slots=True)
class ImportRow:
    line: int
    values: TownValues
    officers: tuple[str, ...]


def read_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, raw fields) for each record of a CSV or YAML file."""
    try:
        text = path.read_text("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput("error.import.encoding", file=path.name) from exc
    except OSError as exc:
        raise InvalidInput("error.import.unreadable", file=str(path), reason=exc.strerror or "") from exc
    if path.suffix.lower() in (".yaml", ".yml"):
        return _yaml_rows(text)
    if path.suffix.lower() in (".csv", ".txt"):
        return _csv_rows(text)
    raise InvalidInput("error.import.format", file=path.name)


def _csv_rows(text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        dialect: Any = csv.Sniffer().sniff(text.split("\n", 1)[0], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    _check_columns(reader.fieldnames or [])
    for record in reader:
        if any((value or "").strip() for value in record.values() if isinstance(value, str)):
            # reader.line_num is the line where the record ends; records here are one line each.
            yield reader.line_num, {k: v for k, v in record.items() if k is not None}


class _LineLoader(yaml.SafeLoader):
    """Keeps the line of each mapping so that errors can point at it."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping = loader.construct_mapping(node, deep=True)
    mapping["__line__"] = node.start_mark.line + 1
    return mapping  # type: ignore[return-value]


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _yaml_rows(text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        data = yaml.load(text, Loader=_LineLoader)
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", -1) + 1
        raise InvalidInput("error.import.yaml", line=line) from exc
    if isinstance(data, dict) and isinstance(data.get("towns", data.get("villes")), list):
        data = data.get("towns", data.get("villes"))
    if not isinstance(data, list):
        raise InvalidInput("error.import.yaml_shape")
    for item in data:
        if not isinstance(item, dict):
            raise InvalidInput("error.import.yaml_shape")
        line = int(item.pop("__line__", 0))
        _check_columns(list(item))
        yield line, {k: ("" if v is None else v) for k, v in item.items()}


def _check_columns(names: Sequence[str]) -> None:
    unknown = [name for name in names if name.strip().lower() not in _ALIASES]
    if unknown:
        raise InvalidInput(
            "error.import.columns",
            unknown=", ".join(unknown),
            known=", ".join(a[0] for a in COLUMNS.values()),
        )


def parse_row(line: int, raw: dict[str, Any], default_timezone: str) -> ImportRow:
    """Checks one record; raises :class:`RowProblem` with every reason it cannot be imported."""
    fields = {_ALIASES[k.strip().lower()]: str(v).strip() for k, v in raw.items()}
    try:
        return _parse(line, fields, default_timezone)
    except UnissonError as exc:
        raise RowProblem(line, exc) from exc


def _parse(line: int, fields: dict[str, str], default_timezone: str) -> ImportRow:
    kind_text = fields.get("kind", "").lower() or ("commune" if fields.get("code") else "")
    kind = KINDS.get(kind_text)
    if kind is None:
        raise InvalidInput(
            "error.import.kind",
            value=fields.get("kind", ""),
            allowed="commune, epci, departement, region, autre",
        )
    code, name = fields.get("code") or None, fields.get("name", "")
    if kind.has_official_code:
        if not code:
            raise InvalidInput("error.import.code_required")
        entry = reference.validate(kind, code)
        code, name = entry.code, entry.name
    elif code:
        raise InvalidInput("error.import.code_forbidden", value=code)
    elif not name:
        raise InvalidInput("error.import.name_required")
    profile = {}
    if fields.get("website"):
        profile["website"] = check_web_url(fields["website"])
    if fields.get("newsletter"):
        profile["newsletter"] = check_web_url(fields["newsletter"])
    if fields.get("bluesky"):
        profile["bluesky"] = normalize_bluesky_handle(fields["bluesky"])
    if fields.get("mastodon"):
        profile["mastodon"] = normalize_mastodon_handle(fields["mastodon"])
    timezone = check_timezone(fields.get("timezone") or default_timezone)
    officers = tuple(
        check_matrix_user_id(part) for part in fields.get("officers", "").replace(";", " ").replace(",", " ").split()
    )
    return ImportRow(line, TownValues(kind, code, name, timezone, profile), officers)
