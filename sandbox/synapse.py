"""A real Synapse homeserver, started on loopback for tests.

The configuration and the signing key are written directly (no ``--generate-config``): a client listener on
127.0.0.1 at a free port, an in-memory SQLite database, no federation, presence off, every rate limit raised,
and a registration shared secret so that tests create users through the admin API::

    async with run_synapse(tmp_path) as hs:
        user_id, token = await hs.register("bot", "a-long-password")

``message_limits="default"`` keeps Synapse's own ``rc_message`` (0.2 messages per second after a burst of 10, per
user), as a production homeserver applies it to a bot, while the other limits stay raised; a server admin can
then exempt chosen users (the test's people) with :meth:`RunningSynapse.exempt_from_rate_limits`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import secrets
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import aiohttp
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from sandbox.postgres import free_port
from sandbox.process import log_tail, stop, wait_until_ok

SERVER_NAME = "unisson.test"
"""The tests' users are ``@name:unisson.test``, like the ids the other test tiers use."""

_STOP_GRACE_SECONDS = 10.0
_LOG_TAIL_LINES = 40
# Far above anything a test does; the defaults allow, e.g., 5 invites per user in a burst.
_UNLIMITED = {"per_second": 10_000, "burst_count": 100_000}
#: Synapse's own ``rc_message`` when the configuration does not set it.
DEFAULT_MESSAGES_PER_SECOND = 0.2
DEFAULT_MESSAGE_BURST = 10

MessageLimits = Literal["raised", "default"]
"""``raised``: far above anything a test does; ``default``: Synapse's own ``rc_message``."""


class SynapseError(RuntimeError):
    """The sandbox Synapse could not be started or refused a request."""


@dataclass
class RunningSynapse:
    """A started sandbox Synapse: its client URL, server name, log file and an HTTP session to call it."""

    url: str
    server_name: str
    log_path: Path
    shared_secret: str
    http: aiohttp.ClientSession

    def user_id(self, localpart: str) -> str:
        """The full Matrix id of ``localpart`` on this server."""
        return f"@{localpart}:{self.server_name}"

    async def register(self, localpart: str, password: str, admin: bool = False) -> tuple[str, str]:
        """Create a user with the shared-secret admin API; returns ``(user_id, access_token)``."""
        endpoint = f"{self.url}/_synapse/admin/v1/register"
        async with self.http.get(endpoint) as response:
            nonce = str((await _json(response, "GET register"))["nonce"])
        body = {
            "nonce": nonce,
            "username": localpart,
            "password": password,
            "admin": admin,
            "mac": registration_mac(self.shared_secret, nonce, localpart, password, admin),
        }
        async with self.http.post(endpoint, json=body) as response:
            answer = await _json(response, "POST register")
        return str(answer["user_id"]), str(answer["access_token"])

    async def exempt_from_rate_limits(self, user_id: str, admin_token: str) -> None:
        """Lifts every message rate limit of ``user_id`` (Synapse's ``override_ratelimit`` admin API).

        ``admin_token`` is the access token of a server admin, e.g. one registered with ``admin=True``.
        """
        endpoint = f"{self.url}/_synapse/admin/v1/users/{quote(user_id, safe='')}/override_ratelimit"
        headers = {"Authorization": f"Bearer {admin_token}"}
        body = {"messages_per_second": 0, "burst_count": 0}
        async with self.http.post(endpoint, json=body, headers=headers) as response:
            await _json(response, f"POST override_ratelimit for {user_id}")


def registration_mac(secret: str, nonce: str, localpart: str, password: str, admin: bool) -> str:
    """The HMAC-SHA1 that ``/_synapse/admin/v1/register`` expects (see Synapse's admin API docs)."""
    message = "\x00".join((nonce, localpart, password, "admin" if admin else "notadmin"))
    return hmac.new(secret.encode(), message.encode(), hashlib.sha1).hexdigest()


async def _json(response: aiohttp.ClientResponse, what: str) -> dict[str, Any]:
    answer: dict[str, Any] = await response.json(content_type=None)
    if response.status != 200:
        raise SynapseError(f"{what} answered {response.status}: {answer}")
    return answer


def write_config(
    folder: Path, port: int, server_name: str = SERVER_NAME, message_limits: MessageLimits = "raised"
) -> tuple[Path, str]:
    """Writes ``homeserver.yaml`` and the signing key into ``folder``; returns the config path and shared secret."""
    folder.mkdir(parents=True, exist_ok=True)
    shared_secret = secrets.token_hex(16)
    key_path = folder / "signing.key"
    key_path.write_text(_signing_key_line(), encoding="ascii")
    config: dict[str, Any] = {
        "server_name": server_name,
        "pid_file": str(folder / "homeserver.pid"),
        "public_baseurl": f"http://127.0.0.1:{port}/",
        "listeners": [
            {
                "port": port,
                "bind_addresses": ["127.0.0.1"],
                "type": "http",
                "tls": False,
                "x_forwarded": False,
                "resources": [{"names": ["client"], "compress": False}],
            }
        ],
        "database": {"name": "sqlite3", "args": {"database": ":memory:"}},
        "media_store_path": str(folder / "media"),
        "signing_key_path": str(key_path),
        "trusted_key_servers": [],
        "suppress_key_server_warning": True,
        "federation_domain_whitelist": [],
        "presence": {"enabled": False},
        "registration_shared_secret": shared_secret,
        "enable_registration": False,
        "macaroon_secret_key": secrets.token_hex(32),
        "form_secret": secrets.token_hex(32),
        "report_stats": False,
        "bcrypt_rounds": 4,
        "url_preview_enabled": False,
        # Otherwise a /sync is served from a cache for two minutes and a reused device sees old events.
        "caches": {"sync_response_cache_duration": 0},
        **_rate_limits(message_limits),
    }
    path = folder / "homeserver.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path, shared_secret


def _signing_key_line() -> str:
    # Synapse's format: "<algorithm> <version> <unpadded base64 of the 32-byte seed>".
    seed = Ed25519PrivateKey.generate().private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return f"ed25519 a_{secrets.token_hex(2)} {base64.b64encode(seed).decode().rstrip('=')}\n"


def _rate_limits(message_limits: MessageLimits = "raised") -> dict[str, Any]:
    # Left out of the configuration, rc_message takes Synapse's default.
    messages = ["rc_message"] if message_limits == "raised" else []
    flat = [
        *messages,
        "rc_registration",
        "rc_joins_per_room",
        "rc_3pid_validation",
        "rc_third_party_invite",
        "rc_key_requests",
        "rc_media_create",
        "rc_admin_redaction",
        "rc_delayed_event_mgmt",
        "rc_room_creation",
        "rc_reports",
        "rc_user_directory",
        "rc_profile",
        "rc_registration_token_validity",
    ]
    nested = {
        "rc_login": ["address", "account", "failed_attempts"],
        "rc_joins": ["local", "remote"],
        "rc_invites": ["per_room", "per_user", "per_issuer"],
        "rc_presence": ["per_user"],
    }
    limits: dict[str, Any] = {name: dict(_UNLIMITED) for name in flat}
    limits |= {name: {part: dict(_UNLIMITED) for part in parts} for name, parts in nested.items()}
    return limits


@contextlib.asynccontextmanager
async def run_synapse(
    folder: Path,
    *,
    server_name: str = SERVER_NAME,
    start_timeout: float = 60.0,
    message_limits: MessageLimits = "raised",
) -> AsyncIterator[RunningSynapse]:
    """Start Synapse with a fresh configuration in ``folder`` and stop it on exit (SIGTERM, then kill).

    Every rate limit is raised, or all but ``rc_message`` with ``message_limits="default"``. Its output goes to
    ``folder/homeserver.log``, whose last lines are in the error if it does not start.
    """
    port = free_port()
    config_path, shared_secret = await asyncio.to_thread(write_config, folder, port, server_name, message_limits)
    log_path = folder / "homeserver.log"
    async with contextlib.AsyncExitStack() as stack:
        log = await asyncio.to_thread(log_path.open, "ab", 0)
        stack.callback(log.close)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "synapse.app.homeserver",
            "--config-path",
            str(config_path),
            cwd=folder,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
        stack.push_async_callback(stop, process, _STOP_GRACE_SECONDS)
        http = await stack.enter_async_context(aiohttp.ClientSession())
        hs = RunningSynapse(f"http://127.0.0.1:{port}", server_name, log_path, shared_secret, http)
        deadline = asyncio.get_running_loop().time() + start_timeout
        if (problem := await wait_until_ok(http, f"{hs.url}/_matrix/client/versions", process, deadline)) is not None:
            raise _start_failure(problem, log_path)
        yield hs


def _start_failure(reason: str, log_path: Path) -> SynapseError:
    tail = log_tail(log_path, _LOG_TAIL_LINES)
    return SynapseError(f"The sandbox Synapse {reason}; its log is {log_path}. Last lines:\n{tail}")
