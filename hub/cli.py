"""The ``unisson`` command line: operator tasks on the embedded default or on PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable, Coroutine
from functools import wraps
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import click

from hub.core import OPERATOR, Hub
from hub.crypto import generate_key
from hub.domain.model import AnnouncementState
from hub.errors import UnissonError
from hub.i18n import format_instant, translate
from hub.logs import configure_logging
from hub.services.reach_report import report_csv, report_lines
from hub.settings import Settings
from hub.store import migrate

log = logging.getLogger("unisson")
P = ParamSpec("P")
T = TypeVar("T")


class Env:
    """What every command gets: the settings and the language of its messages."""

    def __init__(self, settings: Settings, lang: str) -> None:
        self.settings = settings
        self.lang = lang

    def say(self, key: str, **params: object) -> None:
        click.echo(translate(key, self.lang, **params))


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The event loop to run on: uvloop's when asked for and installed (not on Windows), else None (asyncio's)."""
    if name != "uvloop":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run_async(func: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, T]:
    """Runs an async command; our errors become a message and exit code 1, never a traceback."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        env = click.get_current_context().find_object(Env)
        lang = env.lang if env else "fr"
        try:
            with asyncio.Runner(loop_factory=loop_factory(env.settings.event_loop if env else "uvloop")) as runner:
                return runner.run(func(*args, **kwargs))
        except UnissonError as error:
            click.echo(error.message(lang), err=True)
            sys.exit(1)
        except Exception:
            log.exception("unexpected failure in %s", func.__name__)
            click.echo(translate("error.unexpected", lang), err=True)
            sys.exit(2)

    return wrapper


async def with_hub(env: Env, work: Callable[[Hub], Awaitable[T]]) -> T:
    """Opens the hub, brings the embedded database up to date, runs ``work``, closes."""
    hub = Hub.from_settings(env.settings)
    try:
        if env.settings.database_url is None:
            await migrate.upgrade(hub.store)
        elif await migrate.current_revision(hub.store) != migrate.head_revision():
            raise UnissonError("cli.db.outdated")
        return await work(hub)
    finally:
        await hub.close()


pass_env = click.make_pass_decorator(Env)


@click.group()
@click.option("--lang", type=click.Choice(["fr", "en"]), default=None, help="Langue des messages / language.")
@click.pass_context
def main(ctx: click.Context, lang: str | None) -> None:
    """Unisson : publier une annonce commune sur les comptes Bluesky et Mastodon de chaque ville."""
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    ctx.obj = Env(settings, lang or settings.default_language)


# --- db ---------------------------------------------------------------------------------------------------


@main.group()
def db() -> None:
    """Base de données."""


@db.command("upgrade")
@pass_env
@run_async
async def db_upgrade(env: Env) -> None:
    """Applique les migrations (à lancer après chaque mise à jour)."""
    hub = Hub.from_settings(env.settings)
    try:
        await migrate.upgrade(hub.store)
        env.say("cli.db.upgraded", revision=await migrate.current_revision(hub.store) or "-")
    finally:
        await hub.close()


# --- keys -------------------------------------------------------------------------------------------------


@main.group()
def key() -> None:
    """Clés de chiffrement des secrets."""


@key.command("generate")
@pass_env
def key_generate(env: Env) -> None:
    """Affiche une nouvelle clé, à placer en tête de UNISSON_ENCRYPTION_KEYS."""
    click.echo(generate_key())
    click.echo(translate("cli.key.generated", env.lang), err=True)


@key.command("rotate")
@pass_env
@run_async
async def key_rotate(env: Env) -> None:
    """Rechiffre tous les secrets avec la clé la plus récente."""
    count = await with_hub(env, lambda hub: hub.accounts.rotate_keys(OPERATOR))
    env.say("cli.key.rotated", count=count)


# --- coalitions -------------------------------------------------------------------------------------------


@main.group()
def coalitions() -> None:
    """Coalitions (groupes de villes réunies dans un salon Matrix)."""


@coalitions.command("add")
@click.argument("name")
@click.argument("room_id")
@click.option("--language", default="fr", show_default=True)
@pass_env
@run_async
async def coalitions_add(env: Env, name: str, room_id: str, language: str) -> None:
    """Crée une coalition liée au salon ROOM_ID (!abc:serveur)."""
    coalition = await with_hub(env, lambda hub: hub.coalitions.create(OPERATOR, name, room_id, language))
    env.say("cli.coalition.created", name=coalition.name, id=coalition.id, room=coalition.room_id)


@coalitions.command("list")
@pass_env
@run_async
async def coalitions_list(env: Env) -> None:
    """Liste les coalitions."""
    summaries = await with_hub(env, lambda hub: hub.coalitions.list())
    if not summaries:
        env.say("cli.coalition.none")
    for s in summaries:
        env.say(
            "cli.coalition.line",
            id=s.coalition.id,
            name=s.coalition.name,
            room=s.coalition.room_id,
            towns=s.towns,
            coordinators=", ".join(s.coordinators) or "-",
        )


@coalitions.command("appoint")
@click.argument("coalition")
@click.argument("user_id")
@pass_env
@run_async
async def coalitions_appoint(env: Env, coalition: str, user_id: str) -> None:
    """Nomme USER_ID (@nom:serveur) coordinateur de COALITION."""

    async def work(hub: Hub) -> bool:
        return await hub.coalitions.appoint_coordinator(OPERATOR, await _coalition_id(hub, coalition), user_id)

    added = await with_hub(env, work)
    env.say("cli.coalition.appointed" if added else "cli.coalition.already", user=user_id)


async def _coalition_id(hub: Hub, text: str) -> int:
    for summary in await hub.coalitions.list():
        if text in (str(summary.coalition.id), summary.coalition.name, summary.coalition.room_id):
            return summary.coalition.id
    raise UnissonError("error.coalition.not_found", text=text)


# --- towns ------------------------------------------------------------------------------------------------


@main.group()
def towns() -> None:
    """Villes et organisations membres."""


@towns.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--coalition", help="Ajoute aussi les villes à cette coalition (nom ou numéro).")
@click.option("--verbose", "-v", is_flag=True, help="Détaille chaque ligne.")
@pass_env
@run_async
async def towns_import(env: Env, file: Path, coalition: str | None, verbose: bool) -> None:
    """Importe un fichier CSV ou YAML de villes (tout ou rien ; relancer ne change rien)."""

    async def work(hub: Hub) -> Any:
        coalition_id = await _coalition_id(hub, coalition) if coalition else None
        return await hub.towns.import_file(OPERATOR, file, coalition_id)

    report = await with_hub(env, work)
    env.say(
        "cli.import.summary",
        file=file.name,
        created=len(report.created),
        updated=len(report.updated),
        unchanged=len(report.unchanged),
        officers=report.officers_added,
        members=report.members_added,
    )
    if verbose:
        for key, rows in (("cli.import.created", report.created), ("cli.import.updated", report.updated)):
            for line, name in rows:
                env.say(key, line=line, name=name)


@towns.command("list")
@click.option("--coalition", help="Seulement les membres de cette coalition.")
@pass_env
@run_async
async def towns_list(env: Env, coalition: str | None) -> None:
    """Liste les villes."""

    async def work(hub: Hub) -> Any:
        coalition_id = await _coalition_id(hub, coalition) if coalition else None
        return await hub.towns.list(coalition_id)

    for town in await with_hub(env, work):
        click.echo(f"{town.id}\t{town.kind.value}\t{town.code or '-'}\t{town.name}\t{town.timezone}")


@towns.command("erase")
@click.argument("town")
@click.option("--remove", is_flag=True, help="Supprime aussi la ville elle-même.")
@click.option("--yes", is_flag=True, help="Ne pas demander de confirmation.")
@pass_env
@run_async
async def towns_erase(env: Env, town: str, remove: bool, yes: bool) -> None:
    """Efface les identifiants et données personnelles d'une ville (RGPD)."""

    async def work(hub: Hub) -> str:
        found = await hub.towns.find(town)
        if not yes and not click.confirm(translate("cli.erase.confirm", env.lang, name=found.name)):
            raise UnissonError("cli.erase.aborted")
        await hub.towns.erase(OPERATOR, found.id, remove=remove)
        return found.name

    env.say("cli.erase.done", name=await with_hub(env, work))


# --- accounts ---------------------------------------------------------------------------------------------


@main.group()
def accounts() -> None:
    """Comptes Bluesky et Mastodon des villes."""


@accounts.command("verify")
@click.argument("town", required=False)
@pass_env
@run_async
async def accounts_verify(env: Env, town: str | None) -> None:
    """Vérifie chaque compte relié (identifiants, limites, serveur joignable) ; TOWN : une seule ville."""

    async def work(hub: Hub) -> Any:
        town_id = (await hub.towns.find(town)).id if town else None
        return await hub.accounts.verify_all(town_id)

    results = await with_hub(env, work)
    if not results:
        env.say("cli.accounts.none")
    for health in results:
        values = {
            "town": health.town.name,
            "platform": health.account.platform.value.capitalize(),
            "identifier": health.account.identifier,
        }
        if health.problem is None:
            limit = health.account.limits.get("max_characters") or health.account.limits.get("graphemes") or "?"
            env.say("cli.accounts.ok", limit=limit, **values)
        else:
            env.say("cli.accounts.failed", error=health.problem.message(env.lang), **values)
    failed = sum(1 for h in results if h.problem is not None)
    env.say("cli.accounts.summary", ok=len(results) - failed, failed=failed)
    if failed:
        sys.exit(1)


# --- announcements ----------------------------------------------------------------------------------------


@main.group()
def announcements() -> None:
    """Annonces communes."""


@announcements.command("list")
@click.option("--coalition", help="Seulement cette coalition.")
@click.option("--state", type=click.Choice([s.value for s in AnnouncementState]), multiple=True)
@pass_env
@run_async
async def announcements_list(env: Env, coalition: str | None, state: tuple[str, ...]) -> None:
    """Liste les annonces et leur état."""

    async def work(hub: Hub) -> Any:
        coalition_id = await _coalition_id(hub, coalition) if coalition else None
        states = [AnnouncementState(s) for s in state] or None
        return await hub.announcements.list(coalition_id, states)

    found = await with_hub(env, work)
    if not found:
        env.say("cli.announcement.none")
    for a in found:
        when = format_instant(a.publish_at, a.timezone, env.lang) if a.publish_at else "-"
        version = a.current_version.number if a.current_version else 0
        env.say(
            "cli.announcement.line",
            id=a.id,
            title=a.title,
            state=translate(f"state.{a.state.value}", env.lang),
            version=version,
            when=when,
        )


# --- audit ------------------------------------------------------------------------------------------------


@main.group()
def audit() -> None:
    """Journal d'audit."""


@audit.command("export")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
@click.option("--output", "-o", type=click.Path(path_type=Path), help="Fichier (sinon la sortie standard).")
@click.option("--coalition", help="Seulement cette coalition.")
@click.option("--announcement", type=int, help="Seulement cette annonce.")
@pass_env
@run_async
async def audit_export(
    env: Env, fmt: str, output: Path | None, coalition: str | None, announcement: int | None
) -> None:
    """Exporte le journal d'audit (CSV ou JSON)."""

    async def work(hub: Hub) -> str:
        coalition_id = await _coalition_id(hub, coalition) if coalition else None
        return await hub.audit.export(fmt, coalition_id=coalition_id, announcement_id=announcement)

    await _emit(env, await with_hub(env, work), output, "cli.audit.written")


# --- reach ------------------------------------------------------------------------------------------------


@main.command("report")
@click.argument("announcement", type=int)
@click.option("--csv", "as_csv", is_flag=True, help="Une ligne CSV par publication / one CSV row per post.")
@click.option("--round", "number", type=int, help="Ce relevé (sinon le dernier) / this reading (else the latest).")
@click.option("--output", "-o", type=click.Path(path_type=Path), help="Fichier (sinon la sortie standard).")
@pass_env
@run_async
async def report(env: Env, announcement: int, as_csv: bool, number: int | None, output: Path | None) -> None:
    """Ce qu'ont obtenu les publications d'une annonce (j'aime, partages, réponses, citations)."""

    async def work(hub: Hub) -> str:
        found = await hub.reach.report(announcement, number)
        return report_csv(found) if as_csv else "\n".join(report_lines(found, env.lang)) + "\n"

    await _emit(env, await with_hub(env, work), output, "cli.report.written")


async def _emit(env: Env, text: str, output: Path | None, written: str) -> None:
    """Writes ``text`` to ``output`` (then says so with the message ``written``), else to the standard output."""
    if output:
        await asyncio.to_thread(output.write_text, text, "utf-8")
        env.say(written, file=str(output))
    else:
        click.echo(text, nl=False)


if __name__ == "__main__":
    main()
