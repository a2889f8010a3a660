"""Publishers: one module per network behind :class:`hub.publishers.base.Publisher`."""

from hub.publishers.base import (
    AccountCheck,
    Gateway,
    PermanentPublishError,
    PostImage,
    PostJob,
    Published,
    Publisher,
    PublishError,
    TransientPublishError,
)

__all__ = [
    "AccountCheck",
    "Gateway",
    "PermanentPublishError",
    "PostImage",
    "PostJob",
    "PublishError",
    "Published",
    "Publisher",
    "TransientPublishError",
]
