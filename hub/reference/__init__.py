"""The official list of French territories a town can join as: communes, EPCI, départements, régions.

A town is identified by its official code (INSEE code for a commune, SIREN for an EPCI, Insee code for a
département or a région); :func:`validate` checks one against Etalab's open data, shipped in
``data/reference.json.gz`` (rebuilt by ``scripts/build_reference.py``), and loaded once on first use.
"""

from __future__ import annotations

from hub.reference.codes import normalize
from hub.reference.entries import RefEntry
from hub.reference.search import check, communes, data_version, lookup, nearest, validate

__all__ = ["RefEntry", "check", "communes", "data_version", "lookup", "nearest", "normalize", "validate"]
