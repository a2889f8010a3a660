"""Use cases called by the bot and the CLI. They take plain values, check every permission, and record
every decision in the audit log."""

from hub.services.context import Hub

__all__ = ["Hub"]
