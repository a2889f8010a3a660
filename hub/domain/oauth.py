"""The pure rules of linking an account by OAuth 2: PKCE, the state, the scopes asked for, the server's address.

No I/O here: :mod:`hub.publishers.mastodon_oauth` talks to the servers, :mod:`hub.services.linking` keeps the
requests.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from urllib.parse import urlsplit

from hub.errors import InvalidInput

#: The redirect URI that makes the server show the code to the person instead of redirecting (RFC 8252's
#: "out of band" value, which Mastodon accepts).
OUT_OF_BAND = "urn:ietf:wg:oauth:2.0:oob"
#: What posting needs (``write:accounts``: pinning the post on the town's profile, an announcement's option);
#: reading the account to check it comes on top (:func:`scopes_for`).
WRITE_SCOPES = ("write:statuses", "write:media", "write:accounts")
#: Mastodon 4.3+: enough to read one's own account (``verify_credentials``) and nothing else.
PROFILE = "profile"
#: Older servers: the narrowest scope that lets ``verify_credentials`` answer.
READ_ACCOUNTS = "read:accounts"
#: Minutes an authorization request waits for its code.
REQUEST_MINUTES = 10

_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:\d{1,5})?$")
_HANDLE = re.compile(r"^@?([A-Za-z0-9_]+(?:[.\-][A-Za-z0-9_]+)*)@([A-Za-z0-9.\-]+(?::\d{1,5})?)$")


@dataclass(frozen=True, slots=True)
class Pkce:
    """A PKCE pair (RFC 7636, S256): the verifier stays with us, the challenge goes in the authorization link."""

    verifier: str
    challenge: str

    def __repr__(self) -> str:
        return "Pkce(…)"


def new_pkce() -> Pkce:
    verifier = secrets.token_urlsafe(48)  # 64 characters, within RFC 7636's 43-128
    return Pkce(verifier, challenge_of(verifier))


def challenge_of(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def new_state() -> str:
    """An unguessable value binding the server's answer to one request of ours."""
    return secrets.token_urlsafe(32)


def state_hash(state: str) -> str:
    """What the store keeps of a state: its SHA-256, so that a copy of the database cannot answer for us."""
    return hashlib.sha256(state.encode("utf-8")).hexdigest()


def scopes_for(supported: Collection[str] | None) -> str:
    """The least the hub needs: post, upload media, read its own account (``profile`` where offered)."""
    reading = PROFILE if supported is not None and PROFILE in supported else READ_ACCOUNTS
    return " ".join((*WRITE_SCOPES, reading))


@dataclass(frozen=True, slots=True)
class Target:
    """Where to link: the server's base URL, and the handle's domain (the server's host unless a handle said
    otherwise: a server may serve handles of another domain)."""

    server: str
    domain: str


def target_of(text: str, server: str | None = None) -> Target:
    """``mastodon.exemple.fr``, ``https://mastodon.exemple.fr`` or ``@mairie@mastodon.exemple.fr``; ``server``
    (a URL) names the server when it is not the handle's domain."""
    cleaned = text.strip()
    if handle := _HANDLE.match(cleaned):
        found = Target(f"https://{handle.group(2).lower()}", handle.group(2).lower())
    else:
        found = Target(_server_url(cleaned), "")
    base = _server_url(server) if server else found.server
    return Target(base, found.domain or host_of(base))


def _server_url(text: str) -> str:
    cleaned = text.strip().rstrip("/")
    if "://" in cleaned:
        parts = urlsplit(cleaned)
        if parts.scheme in ("http", "https") and parts.netloc and _HOST.match(parts.netloc) and not parts.path:
            return f"{parts.scheme}://{parts.netloc.lower()}"
    elif _HOST.match(cleaned) and "." in cleaned:
        return f"https://{cleaned.lower()}"
    raise InvalidInput("error.oauth.server", value=text)


def host_of(server: str) -> str:
    """``https://mastodon.exemple.fr`` → ``mastodon.exemple.fr`` (the part of a handle after the second @)."""
    return urlsplit(server).netloc
