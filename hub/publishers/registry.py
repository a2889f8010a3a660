"""The publishers of a deployment, one per network, built from the settings."""

from __future__ import annotations

from datetime import timedelta

from hub.domain.model import Platform
from hub.publishers.base import Gateway, Publisher
from hub.settings import Settings


def build_publishers(gateway: Gateway, settings: Settings) -> dict[Platform, Publisher]:
    from hub.publishers.bluesky import BlueskyPublisher
    from hub.publishers.mastodon import MastodonPublisher

    return {
        Platform.BLUESKY: BlueskyPublisher(
            gateway,
            plc_url=settings.bluesky_plc_url,
            app_url=settings.bluesky_app_url,
            timeout=settings.publish_timeout,
        ),
        Platform.MASTODON: MastodonPublisher(
            gateway,
            visibility=settings.mastodon_visibility,
            timeout=settings.publish_timeout,
            staging_grace=timedelta(seconds=settings.mastodon_prestage_grace_seconds),
        ),
    }
