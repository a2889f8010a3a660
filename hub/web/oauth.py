"""The page a Mastodon server sends an officer back to after they approved Unisson (when the hub has a public
address): ``GET /oauth/mastodon?code=…&state=…``. The state names the request (officer, town, conversation); the
code is exchanged once. The page says what happened; it never shows the code, the state or the token, and like
every page it sends no referrer and is not cached.
"""

from __future__ import annotations

import logging

from aiohttp import web

from hub.core import Hub
from hub.errors import UnissonError
from hub.services.accounts import Health
from hub.urls import OAUTH_CALLBACK_PATH, STATIC_PREFIX
from hub.web.render import Words, choose_language, render

log = logging.getLogger(__name__)
_HUB = web.AppKey("oauth_hub", Hub)
_NO_STORE = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex, nofollow"}


def add_oauth_routes(app: web.Application, hub: Hub) -> None:
    app[_HUB] = hub
    app.router.add_get(OAUTH_CALLBACK_PATH, _callback)


async def _callback(request: web.Request) -> web.Response:
    hub = request.app[_HUB]
    words = Words(choose_language(request.query.get("lang"), request.headers.get("Accept-Language"), "fr"))
    code, state = request.query.get("code", ""), request.query.get("state", "")
    status = 200
    if not code or not state:
        # The officer declined (``error=access_denied``) or the address was opened by hand.
        message, status = words.t("web.oauth.declined"), 400
    else:
        try:
            message = _outcome(await hub.linking.finish_with_state(state, code), words)
        except UnissonError as error:
            message, status = error.message(words.lang), 400
    body = render("linked.html", words, switch={}, css=f"{STATIC_PREFIX}/unisson.css", message=message)
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8", headers=_NO_STORE)


def _outcome(health: Health, words: Words) -> str:
    names = {"identifier": health.account.identifier, "town": health.town.name}
    if health.problem is not None:
        return words.t("web.oauth.problem", problem=health.problem.message(words.lang), **names)
    return words.t("web.oauth.linked", **names)
