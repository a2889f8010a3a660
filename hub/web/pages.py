"""The web pages: the coordinators' status table (and its CSV), an announcement's public page, a coalition's
page and its Atom feed, the stylesheet.

- ``GET /s/<token>``: the coordinators' table, for whoever holds a link the bot gave (``!lien N``); a wrong,
  revoked or expired token gets the same 404 as any unknown address.
- ``GET /s/<token>/villes.csv``: the same table, filtered the same way, as a spreadsheet.
- ``GET /c/<coalition>/<n>``: the public page of a published announcement (or one a coordinator opened early).
- ``GET /c/<coalition>``, ``GET /c/<coalition>/annonces.atom``: the coalition's public announcements.

Every answer carries a strict Content-Security-Policy and no referrer (the token is in the status URL); the
status page and its CSV are neither cached nor indexed. No page makes a request to any other site.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Handler

from hub.core import Hub
from hub.domain.model import DeliveryState, Platform, SignOnState
from hub.services.campaign_pages import StatusPage, TownLine
from hub.services.reach_report import page_totals
from hub.urls import (
    STATIC_PREFIX,
    absolute,
    coalition_path,
    feed_path,
    public_path,
    status_csv_path,
    status_path,
)
from hub.web import table
from hub.web.feed import ATOM, atom
from hub.web.render import Words, choose_language, compile_templates, query_string, render

STATIC = Path(__file__).parent / "static"
HUB = web.AppKey("hub", Hub)
#: What a page may load: only its own stylesheet. No script, no frame, no font, nothing from elsewhere.
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}
PRIVATE_HEADERS = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex, nofollow"}
HTML = "text/html"


def add_routes(app: web.Application, hub: Hub) -> None:
    app[HUB] = hub
    compile_templates()
    app.router.add_get("/s/{token:[A-Za-z0-9_-]{16,128}}", _status)
    app.router.add_get("/s/{token:[A-Za-z0-9_-]{16,128}}/villes.csv", _status_csv)
    app.router.add_get(r"/c/{coalition:\d{1,12}}", _coalition)
    app.router.add_get(r"/c/{coalition:\d{1,12}}/annonces.atom", _feed)
    app.router.add_get(r"/c/{coalition:\d{1,12}}/{number:\d{1,12}}", _public)
    app.router.add_static(STATIC_PREFIX, STATIC, append_version=False)
    app.middlewares.append(_not_found)
    app.on_response_prepare.append(_secure)


def _words(request: web.Request, fallback: str) -> Words:
    return Words(choose_language(request.query.get("lang"), request.headers.get("Accept-Language"), fallback))


def _base(request: web.Request) -> str:
    """The site's address: ``UNISSON_PUBLIC_URL``, else the address this request came to."""
    return absolute(request.app[HUB].settings, "") or str(request.url.origin())


def _page(request: web.Request, template: str, words: Words, **context: object) -> web.Response:
    params = {k: v for k, v in request.query.items() if k != "lang"}
    switch = {lang: query_string(params, lang=lang) for lang in ("fr", "en") if lang != words.lang}
    body = render(template, words, switch=switch, css=f"{STATIC_PREFIX}/unisson.css", **context)
    return web.Response(text=body, content_type=HTML, charset="utf-8", headers={"Content-Language": words.lang})


# --- the coordinators' table ----------------------------------------------------------------------------------


async def _status_page(request: web.Request) -> StatusPage:
    hub = request.app[HUB]
    target = await hub.links.resolve(request.match_info["token"])
    page = await hub.pages.status(target.announcement_id) if target else None
    if page is None:
        raise web.HTTPNotFound()
    return page


async def _status(request: web.Request) -> web.Response:
    page = await _status_page(request)
    words = _words(request, page.coalition.language)
    token = request.match_info["token"]
    query = table.TableQuery.of(request.query)
    lines = query.apply(page.lines)
    keep = {**query.params(), "lang": request.query.get("lang", "")}
    here = status_path(token)
    filter_links = {value: here + query_string({"etat": value, "lang": keep["lang"]}) for value in table.FILTERS}
    response = _page(
        request,
        "status.html",
        words,
        page=page,
        lines=lines,
        query=query,
        filters=table.FILTERS,
        sorts=table.SORTS,
        csv_url=status_csv_path(token) + query_string(keep),
        here=here,
        filter_links=filter_links,
        public_url=public_path(page.coalition.id, page.announcement.id) if page.public else None,
        labels=_labels(words),
    )
    response.headers.update(PRIVATE_HEADERS)
    return response


def _labels(words: Words) -> dict[str, object]:
    """The words every row of the table repeats, looked up once (by the values of the states)."""
    return {
        "signon": {state.value: words.t(f"web.signon.{state.value}") for state in SignOnState},
        "post": {state.value: words.t(f"web.post.{state.value}") for state in DeliveryState},
        "platform": {platform.value: words.t(f"web.platform.{platform.value}") for platform in Platform},
        "account": {name: words.t(f"web.account.{name}") for name in ("failing", "unchecked", "none")},
        "colon": words.t("web.colon"),
    }


async def _status_csv(request: web.Request) -> web.Response:
    page = await _status_page(request)
    words = _words(request, page.coalition.language)
    lines = table.TableQuery.of(request.query).apply(page.lines)
    header = [words.t(f"web.csv.{column}") for column in CSV_COLUMNS]
    body = table.csv_text(header, (_csv_row(line, words) for line in lines))
    name = f"unisson-{page.announcement.id}-villes.csv"
    headers = {"Content-Disposition": f'attachment; filename="{name}"', **PRIVATE_HEADERS}
    return web.Response(body=body.encode("utf-8"), content_type="text/csv", charset="utf-8", headers=headers)


CSV_COLUMNS = (
    "code",
    "name",
    "state",
    "version",
    "by",
    "at",
    "reason",
    "bluesky_account",
    "mastodon_account",
    "bluesky_post",
    "bluesky_link",
    "mastodon_post",
    "mastodon_link",
)


def _csv_row(line: TownLine, words: Words) -> list[object]:
    signon, town = line.signon, line.town
    posts: list[object] = []
    for platform in Platform:
        state, url = table.post_of(line, platform)
        posts += [words.t(f"web.post.{state}") if state else "", url]
    return [
        town.code or "",
        town.name,
        words.t(f"web.signon.{signon.state.value}"),
        signon.version_number or "",
        signon.by or "",
        table.iso(signon.at, town.timezone),
        signon.reason or "",
        table.account_of(line, Platform.BLUESKY),
        table.account_of(line, Platform.MASTODON),
        *posts,
    ]


# --- public pages ---------------------------------------------------------------------------------------------


async def _public(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    coalition_id, number = int(request.match_info["coalition"]), int(request.match_info["number"])
    page = await hub.pages.public(coalition_id, number)
    if page is None:
        raise web.HTTPNotFound()
    words = _words(request, page.announcement.language)
    path = public_path(coalition_id, number)
    reach = await hub.reach.latest_totals(page.announcement.id) if page.published else None
    return _page(
        request,
        "public.html",
        words,
        page=page,
        permalink=_base(request) + path,
        coalition_url=coalition_path(coalition_id),
        feed_url=feed_path(coalition_id),
        platforms=list(Platform),
        reach=page_totals(reach, words.lang, page.announcement.timezone) if reach and reach.posts else None,
        packs=await hub.starter_packs.links(coalition_id),
    )


async def _coalition(request: web.Request) -> web.Response:
    coalition_id = int(request.match_info["coalition"])
    page = await request.app[HUB].pages.coalition(coalition_id)
    if page is None:
        raise web.HTTPNotFound()
    words = _words(request, page.coalition.language)
    links = {a.id: public_path(coalition_id, a.id) for a in page.announcements}
    return _page(request, "coalition.html", words, page=page, links=links, feed_url=feed_path(coalition_id))


async def _feed(request: web.Request) -> web.Response:
    page = await request.app[HUB].pages.coalition(int(request.match_info["coalition"]))
    if page is None:
        raise web.HTTPNotFound()
    words = _words(request, page.coalition.language)
    return web.Response(body=atom(page, _base(request), words), headers={"Content-Type": ATOM})


# --- every answer ---------------------------------------------------------------------------------------------


@web.middleware
async def _not_found(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Any 404 is the same page, whether the address is unknown or a token wrong, revoked or expired."""
    try:
        return await handler(request)
    except web.HTTPNotFound:
        words = _words(request, "fr")
        response = _page(request, "not_found.html", words)
        response.set_status(404)
        response.headers.update(PRIVATE_HEADERS)
        return response


async def _secure(_request: web.Request, response: web.StreamResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
