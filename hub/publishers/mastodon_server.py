"""Which software a Mastodon-API server runs, and so which of Mastodon's guarantees it gives.

Several independent servers implement Mastodon's client API (Pleroma, Akkoma, Hollo, GoToSocial, Takahē and its
forks). The requests look the same; the guarantees do not: Takahē and GoToSocial ignore ``Idempotency-Key``, so a
retry after a lost answer makes a second status there. The publisher reads the software's name once per server
and trusts the key only where the software is known to honour it.

Where the name comes from, most reliable first:

1. NodeInfo (``/.well-known/nodeinfo`` → its 2.x document → ``software.name``), which every ActivityPub server
   publishes under its own name;
2. the ``version`` of ``/api/v2/instance``: ``"takahe/0.11.0"``, or a compatibility string such as
   ``"2.7.2 (compatible; Pleroma 2.6.0)"``. A bare number (Mastodon's ``"4.3.2"``) names nobody: NeoDB, a fork of
   Takahē, also answers a Mastodon-like ``"4.0.4 (compatible; NeoDB …)"`` while ignoring the key.

When neither names the software, it is unknown, and an unknown server is assumed not to honour the key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

#: Software known to honour Idempotency-Key on ``POST /api/v1/statuses`` (Mastodon and its forks report
#: "mastodon" in NodeInfo; Pleroma, Akkoma and Hollo keep keys for an hour, from their source).
HONOURS_IDEMPOTENCY = frozenset({"mastodon", "pleroma", "akkoma", "hollo"})
#: The NodeInfo schemas whose document we read, newest first.
NODEINFO_SCHEMAS = (
    "http://nodeinfo.diaspora.software/ns/schema/2.1",
    "http://nodeinfo.diaspora.software/ns/schema/2.0",
)
_COMPATIBLE = re.compile(r"\(compatible;\s*([A-Za-z][\w.\-]*)")
_NAMED = re.compile(r"^([A-Za-z][\w.\-]*)/\S")


@dataclass(frozen=True, slots=True)
class Software:
    """A server's software: ``name`` in lower case (empty when unknown) and its version as the server says it."""

    name: str
    version: str = ""

    @property
    def honours_idempotency(self) -> bool:
        """True when a retry carrying the same ``Idempotency-Key`` is known to get the first status back."""
        return self.name in HONOURS_IDEMPOTENCY

    @property
    def known(self) -> bool:
        return bool(self.name)


UNKNOWN = Software("")


def nodeinfo_link(well_known: Any) -> str | None:
    """The URL of the NodeInfo 2.x document listed by ``/.well-known/nodeinfo``, if any."""
    links = well_known.get("links") if isinstance(well_known, dict) else None
    found = {
        link.get("rel"): link.get("href")
        for link in links or ()
        if isinstance(link, dict) and isinstance(link.get("href"), str)
    }
    return next((found[schema] for schema in NODEINFO_SCHEMAS if schema in found), None)


def from_nodeinfo(document: Any) -> Software:
    """The software a NodeInfo document names (``software.name``, ``software.version``)."""
    software = document.get("software") if isinstance(document, dict) else None
    if not isinstance(software, dict) or not isinstance(software.get("name"), str):
        return UNKNOWN
    return Software(software["name"].strip().lower(), str(software.get("version") or ""))


def from_version(version: Any) -> Software:
    """The software an instance's ``version`` names, if it names one (a bare number does not)."""
    if not isinstance(version, str):
        return UNKNOWN
    match = _COMPATIBLE.search(version) or _NAMED.match(version.strip())
    return Software(match.group(1).lower(), version) if match else UNKNOWN
