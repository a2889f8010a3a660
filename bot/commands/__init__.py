"""Command families, one module each; :func:`default_registry` gathers them."""

from __future__ import annotations

from bot.commands import accounts, admin, announcements, basic, publication
from bot.registry import Registry


def default_registry() -> Registry:
    """Every command the bot answers to."""
    return Registry.from_modules(basic, announcements, publication, admin, accounts)
