"""Use cases called by the bot and the CLI. They take plain values, check every permission, and record
every decision in the audit log. Each is built from a :class:`hub.services.context.ServiceContext`; the hub
that hands them out is :class:`hub.core.Hub`."""
