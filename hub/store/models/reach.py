"""The coalitions' own accounts and their reach: counts read after publication, starter packs, reposts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hub.store.models.base import Base
from hub.store.models.members import LinkedAccountColumns


class CoalitionAccountRow(LinkedAccountColumns, Base):
    """A coalition's own account on one network (its association's, its coordinators'), which amplifies the
    towns' posts and holds the starter pack; linked and kept encrypted like a town's."""

    __tablename__ = "coalition_accounts"
    __table_args__ = (sa.UniqueConstraint("coalition_id", "platform"),)
    coalition_id: Mapped[int] = mapped_column(sa.ForeignKey("coalitions.id", ondelete="CASCADE"))
    linked_by: Mapped[str] = mapped_column(sa.String(255))


class ReachRoundRow(Base):
    """One planned reading of an announcement's post counts (the day after, a week after…)."""

    __tablename__ = "reach_rounds"
    __table_args__ = (sa.UniqueConstraint("announcement_id", "number"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    announcement_id: Mapped[int] = mapped_column(sa.ForeignKey("announcements.id", ondelete="CASCADE"))
    number: Mapped[int]
    #: When to read; a failed reading moves it later (a failure only delays the report).
    due_at: Mapped[datetime] = mapped_column(index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    read_at: Mapped[datetime | None]
    #: When a front end told the room (None: still to tell, once read).
    told_at: Mapped[datetime | None]


class PostCountRow(Base):
    """What one post's counts were at one reading (a snapshot; ``deleted`` when the post was gone)."""

    __tablename__ = "post_counts"
    __table_args__ = (sa.UniqueConstraint("delivery_id", "round_number"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(sa.ForeignKey("deliveries.id", ondelete="CASCADE"))
    round_number: Mapped[int]
    taken_at: Mapped[datetime]
    likes: Mapped[int] = mapped_column(default=0)
    reposts: Mapped[int] = mapped_column(default=0)
    replies: Mapped[int] = mapped_column(default=0)
    quotes: Mapped[int] = mapped_column(default=0)
    deleted: Mapped[bool] = mapped_column(default=False)


class StarterPackRow(Base):
    """One of a coalition's Bluesky starter packs (a reference list of its towns' accounts and the pack that
    points to it), on the coalition's own account. The record keys are chosen and kept before the first write,
    so a write repeated after a crash rewrites the same records instead of making others."""

    __tablename__ = "starter_packs"
    __table_args__ = (sa.UniqueConstraint("coalition_id", "number"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    coalition_id: Mapped[int] = mapped_column(sa.ForeignKey("coalitions.id", ondelete="CASCADE"))
    number: Mapped[int]
    list_rkey: Mapped[str] = mapped_column(sa.String(16))
    pack_rkey: Mapped[str] = mapped_column(sa.String(16))
    #: The account's DID and handle when last written (for the pack's at-uri and its web address).
    did: Mapped[str | None] = mapped_column(sa.String(255))
    handle: Mapped[str | None] = mapped_column(sa.String(255))
    #: The SHA-256 of the members' handles the pack was last brought up to date with.
    members_hash: Mapped[str | None] = mapped_column(sa.String(64))
    label: Mapped[str | None] = mapped_column(sa.String(120))
    synced_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class RepostRow(Base):
    """The coalition's own account reposting (boosting) one town's post, once. Its Bluesky record key is stored
    before the request that uses it, so a retry after a crash finds the repost instead of making another."""

    __tablename__ = "reposts"
    __table_args__ = (sa.UniqueConstraint("delivery_id", "coalition_account_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    announcement_id: Mapped[int] = mapped_column(sa.ForeignKey("announcements.id", ondelete="CASCADE"), index=True)
    delivery_id: Mapped[int] = mapped_column(sa.ForeignKey("deliveries.id", ondelete="CASCADE"))
    coalition_account_id: Mapped[int] = mapped_column(sa.ForeignKey("coalition_accounts.id", ondelete="CASCADE"))
    #: pending → done (→ undoing → undone on retraction); failed when the network refuses for good.
    state: Mapped[str] = mapped_column(sa.String(16))
    #: When to send it: spaced so that the account stays within its network's posting limits.
    due_at: Mapped[datetime] = mapped_column(index=True)
    remote_key: Mapped[str | None] = mapped_column(sa.String(64))
    remote_id: Mapped[str | None] = mapped_column(sa.String(512))
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    done_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class RepostRequestRow(Base):
    """A coordinator asked the coalition's accounts to repost an announcement's posts, in this order."""

    __tablename__ = "repost_requests"
    announcement_id: Mapped[int] = mapped_column(
        sa.ForeignKey("announcements.id", ondelete="CASCADE"), primary_key=True
    )
    requested_by: Mapped[str] = mapped_column(sa.String(255))
    #: Town ids in the order asked for (largest population first unless the coordinator gave a list).
    order: Mapped[list[Any]] = mapped_column(default=list)
    planned_at: Mapped[datetime | None]
    #: The last stage of the reposts told to the room (see :data:`hub.domain.reach.REPOST_STAGES`).
    told: Mapped[str | None] = mapped_column(sa.String(16))
    created_at: Mapped[datetime]
