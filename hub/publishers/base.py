"""The one small interface every network's publisher implements.

A publisher publishes a frozen delivery (→ remote id and public URL), deletes a post, verifies an account, and
prepares a post ahead of time (uploads) so that at the agreed minute publishing is a single request. It turns its
library's failures into our :class:`TransientPublishError` (try again later) or :class:`PermanentPublishError`
(stop, a person must act) at its boundary. A new network is one new module implementing :class:`Publisher`.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol

from hub.domain.model import Account, Platform
from hub.errors import UnissonError


class PublishError(UnissonError):
    """A publication step failed; ``detail`` is what the server said (never a secret)."""

    key = "publish.error"


class TransientPublishError(PublishError):
    """Worth retrying: network trouble, a timeout, a 5xx, or a rate limit (then ``retry_at`` says when)."""

    key = "publish.transient"

    def __init__(self, key: str | None = None, /, retry_at: datetime | None = None, **params: object) -> None:
        super().__init__(key, **params)
        self.retry_at = retry_at


class PermanentPublishError(PublishError):
    """Retrying will not help: bad credentials, a refused post. ``reconnect`` asks the town to re-link."""

    key = "publish.permanent"

    def __init__(self, key: str | None = None, /, reconnect: bool = False, **params: object) -> None:
        super().__init__(key, **params)
        self.reconnect = reconnect


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A server's last rate-limit headers: ``remaining`` requests of ``limit`` until ``reset``."""

    limit: int
    remaining: int
    reset: datetime

    def blocks(self, now: datetime) -> bool:
        """True while the window is used up: a request now would get a 429."""
        return self.remaining <= 0 and self.reset > now


@dataclass(frozen=True, slots=True)
class PostImage:
    data: bytes
    mime: str
    alt: str
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class PostJob:
    """One delivery to publish, as frozen at lock time."""

    delivery_id: int
    account: Account
    text: str
    language: str
    idempotency_key: str
    images: tuple[PostImage, ...] = ()
    #: The post's own key chosen at an earlier attempt (Bluesky: the rkey), if any.
    remote_key: str | None = None
    #: What :meth:`Publisher.prepare` uploaded ahead of time (JSON-serialisable), if anything.
    prepared: dict[str, Any] | None = None
    #: True when nothing can have been sent for this delivery before (its first claim): a stored key is then
    #: known to be unused, and no look-up for an earlier post is needed.
    first_attempt: bool = False
    #: A follow-up answers this post in thread: its remote id (Bluesky at-uri, Mastodon status id).
    reply_to: str | None = None
    #: A pin pins this post (its remote id) on the account's profile.
    pin_of: str | None = None
    #: Where its pre-staged scheduled status stands, if it was pre-staged (see :mod:`hub.domain.prestage`).
    schedule: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Published:
    remote_id: str
    url: str


@dataclass(frozen=True, slots=True)
class AccountCheck:
    """The result of verifying an account: who it is on the server, and the server's limits."""

    identifier: str
    limits: dict[str, Any] = field(default_factory=dict)


class Gateway(Protocol):
    """What a publisher needs from the hub: secrets, its session, and a place to note the post's key."""

    async def secret(self, account_id: int) -> str: ...

    async def session(self, account_id: int) -> str | None: ...

    async def save_session(self, account_id: int, session: str | None) -> None: ...

    async def remember_remote_key(self, delivery_id: int, key: str) -> str:
        """Stores ``key`` unless the delivery already has one; returns the key that is stored (use it)."""
        ...

    async def remember_previous_pin(self, delivery_id: int, previous: dict[str, Any]) -> dict[str, Any]:
        """Stores what was pinned before a pin (unless already stored: the first one read is the true one);
        returns what is stored."""
        ...

    async def remember_schedule(self, delivery_id: int, schedule: dict[str, Any]) -> None:
        """Stores (and commits) where a delivery's pre-staging stands, before the request it announces."""
        ...

    async def ignores_scheduling(self, server: str) -> bool:
        """Whether ``server`` was found (by any process, at any time) to publish at once what it was asked to
        schedule."""
        ...

    async def found_ignoring_scheduling(self, server: str) -> None:
        """Remembers (and commits) that ``server`` published at once what it was asked to schedule."""
        ...


class Publisher(abc.ABC):
    platform: ClassVar[Platform]

    @abc.abstractmethod
    async def verify(self, account: Account) -> AccountCheck:
        """Checks credentials and reads the server's limits; raises a publish error otherwise."""

    @abc.abstractmethod
    async def prepare(self, job: PostJob) -> dict[str, Any]:
        """Does ahead of time what can be (session refresh, uploads); returns what :meth:`publish` reuses."""

    @abc.abstractmethod
    async def publish(self, job: PostJob) -> Published:
        """Publishes exactly once, however often it is called for the same job."""

    @abc.abstractmethod
    async def delete(self, account: Account, remote_id: str) -> None:
        """Deletes a post; a post already gone is not an error."""

    async def pin(self, job: PostJob) -> Published:
        """Pins ``job.pin_of`` on the account's profile, once however often called; first stores what was
        pinned before (:meth:`Gateway.remember_previous_pin`). ``Published`` names the pinned post."""
        raise PermanentPublishError("publish.pin.unsupported")

    async def unpin(self, account: Account, remote_id: str, previous: dict[str, Any] | None) -> None:
        """Undoes :meth:`pin` of post ``remote_id``: restores ``previous`` (what :meth:`pin` stored), unless the
        profile has changed its pin since."""
        raise PermanentPublishError("publish.pin.unsupported")

    async def stage(self, job: PostJob, at: datetime) -> dict[str, Any] | None:
        """Hands the post to its server to be published at ``at`` (after :meth:`prepare`, whose uploads are in
        ``job.prepared``); returns the delivery's new ``schedule`` (see :mod:`hub.domain.prestage`), or None
        where the network has no such thing."""
        return None

    async def unstage(self, account: Account, schedule: dict[str, Any], text: str) -> None:  # noqa: B027
        """Takes back what :meth:`stage` handed over (its ``schedule``); if the server already published it,
        deletes the post. Done once the server no longer holds either."""

    def host_pace(self, server: str) -> RateLimit | None:
        """The last rate-limit state ``server`` (an account's server URL) announced, if the publisher knows it;
        the dispatcher spaces its requests to that server so as not to run into 429s."""
        return None

    async def close(self) -> None:  # noqa: B027 - optional: most publishers hold one HTTP session
        """Releases connections."""
