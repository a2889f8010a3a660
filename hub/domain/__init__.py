"""Plain types and pure rules of the hub: no I/O here."""
