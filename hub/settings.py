"""Deployment settings, read once in ``main`` from the environment (prefix ``UNISSON_``) and ``.env``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from hub.i18n import LANGUAGES


class Settings(BaseSettings):
    """Every setting is documented in ``config/unisson.example.env``."""

    model_config = SettingsConfigDict(env_prefix="UNISSON_", env_file=".env", env_file_encoding="utf-8", extra="ignore")

    data_dir: Path = Path("data")
    database_url: str | None = None
    #: Secret keys (Fernet's text form), newest first, comma separated. Empty: a key is generated once in ``data_dir``.
    encryption_keys: SecretStr = SecretStr("")
    admins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    default_language: str = "fr"
    default_timezone: str = "Europe/Paris"
    log_level: str = "INFO"
    #: ``text`` (one readable line per entry) or ``json`` (one JSON object per line, for log collectors).
    log_format: Literal["text", "json"] = "text"
    #: Where ``unisson run`` answers ``/healthz``, ``/readyz`` and ``/metrics``; port 0 turns the endpoint off.
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=0, le=65535)
    #: The address people reach the web pages at (``https://unisson.example.org``); links in the room use it.
    public_url: str | None = None
    #: Days a coordinators' status link works (``!lien N`` gives a new one).
    status_link_days: int = Field(default=30, ge=1)

    #: Where did:plc identities are resolved (Bluesky accounts are not all on bsky.social).
    bluesky_plc_url: str = "https://plc.directory"
    #: Where people read a Bluesky post: its links in the room and on the pages (a local double in the demo).
    bluesky_app_url: str = "https://bsky.app"
    #: Where the towns' post counts are read on Bluesky (an AppView; a lone PDS has none).
    bluesky_appview_url: str = "https://public.api.bsky.app"
    #: Hours after a publication ends when the posts' counts are read and reported (the day after, a week after).
    reach_after_hours: list[float] = Field(default_factory=lambda: [24.0, 168.0])
    #: Seconds between two looks for counts due to be read (low priority: it never delays publication).
    reach_check_seconds: float = Field(default=60.0, gt=0)
    #: Seconds to wait for a network's answer before trying again later.
    publish_timeout: float = 10.0
    #: Mastodon visibility of the towns' posts: public, unlisted, private.
    mastodon_visibility: str = "public"

    #: Hand each Mastodon post to its server at the pre-flight, as a scheduled status, so that it goes out at the
    #: instant even if the hub is down then (each announcement may choose otherwise).
    mastodon_prestage: bool = False
    #: Seconds before the instant under which a post is no longer pre-staged: Mastodon's 5 minutes, and a
    #: margin for clocks that disagree and for a long pre-flight.
    mastodon_prestage_lead_seconds: float = Field(default=420.0, ge=0)
    #: Seconds after the instant a pre-staged post still scheduled is left to its server, before the hub takes
    #: it back and posts it itself (Mastodon's own catch-up runs every 5 minutes).
    mastodon_prestage_grace_seconds: float = Field(default=300.0, gt=0)

    #: Minutes before the instant when accounts are checked and images uploaded.
    preflight_minutes: float = Field(default=15.0, ge=0)
    #: Minutes after the instant beyond which a publication that could not start waits for the coordinator.
    late_window_minutes: float = Field(default=30.0, gt=0)
    #: Minutes after the instant during which failed posts are tried again.
    retry_minutes: float = Field(default=120.0, gt=0)
    retry_initial_seconds: float = Field(default=2.0, gt=0)
    retry_max_seconds: float = Field(default=300.0, gt=0)
    #: Requests sent at once to one server, per process: 1,600 towns on one server answering in 100 ms are
    #: posted in 1,600 × 0.1 / 64 = 2.5 s.
    per_host_concurrency: int = Field(default=64, ge=1)
    #: The event loop the processes run on: ``uvloop`` (libuv, about a fifth less CPU per post at the instant,
    #: measured by ``bench/fanout``) where it is installed, else Python's own; ``asyncio`` always Python's own.
    event_loop: Literal["uvloop", "asyncio"] = "uvloop"
    worker_heartbeat_seconds: float = Field(default=5.0, gt=0)
    worker_timeout_seconds: float = Field(default=30.0, gt=0)

    @field_validator("admins", mode="before")
    @classmethod
    def _split_admins(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]
        return value

    @field_validator("public_url", mode="before")
    @classmethod
    def _bare_url(cls, value: object) -> object:
        if isinstance(value, str):
            return value.strip().rstrip("/") or None
        return value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower_format(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("default_language")
    @classmethod
    def _known_language(cls, value: str) -> str:
        if value not in LANGUAGES:
            raise ValueError(f"default_language must be one of {', '.join(LANGUAGES)}")
        return value

    @property
    def resolved_database_url(self) -> str:
        """The configured URL, or the embedded SQLite file in the data folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'unisson.db').resolve()}"

    @property
    def key_file(self) -> Path:
        return self.data_dir / "secret.key"
