"""Commands declared once — names, arguments, audience, help — with help and usage generated from them.

A command family module declares its handlers with :func:`command`::

    @command("langue", english="language", arguments=(Argument("language", choices=("fr", "en")),))
    async def language(request: Request, args: Arguments) -> Reply: ...

:meth:`Registry.from_modules` gathers the declared commands. The audience only filters the help: the hub's
services check permissions themselves.
"""

from __future__ import annotations

import difflib
import enum
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Generic, TypeVar

from bot.render import Reply, Rich
from hub.i18n import translate

#: What a handler is given besides its arguments (:class:`bot.context.Request`). The registry only declares and
#: describes commands, so it leaves the type open rather than import the module that needs the registry.
RequestT = TypeVar("RequestT")


class Audience(enum.IntEnum):
    """Who a command is meant for; each level sees the commands of the levels below it in the help."""

    ANYONE = 0
    OFFICER = 1
    COORDINATOR = 2
    ADMIN = 3


class UsageError(Exception):
    """The words after the command do not match its arguments; the user is shown the usage."""


@dataclass(frozen=True, slots=True)
class Argument:
    """One argument of a command.

    Its label in the usage is the catalog entry ``bot.arg.<name>`` (``<commande>``), or its choices
    (``fr|en``). Other arguments are single words of the command's line; ``rest`` takes what remains of that
    line as it was typed (a text with spaces) and the lines below it (read them with :meth:`Arguments.lines`).
    """

    name: str
    choices: tuple[str, ...] = ()
    optional: bool = False
    rest: bool = False
    number: bool = False

    def usage(self, lang: str) -> str:
        label = "|".join(self.choices) if self.choices else translate(f"bot.arg.{self.name}", lang)
        if self.optional:
            return f"[{label}]"
        return label if self.choices else f"<{label}>"

    def convert(self, word: str) -> str | int:
        if self.choices:
            for choice in self.choices:
                if word.casefold() == choice.casefold():
                    return choice
            raise UsageError(self.name)
        if self.number:
            try:
                return int(word)
            except ValueError:
                raise UsageError(self.name) from None
        return word


class Arguments:
    """The parsed arguments of one invocation, read by name with the type the declaration promised."""

    def __init__(self, values: dict[str, str | int]) -> None:
        self._values = values

    def text(self, name: str) -> str:
        return str(self._values[name]).strip()

    def optional_text(self, name: str) -> str | None:
        value = self._values.get(name)
        return None if value is None else str(value).strip()

    def lines(self, name: str) -> tuple[str, str]:
        """A ``rest`` argument in two: what was typed on the command's line, and the lines below it.

        ``!signer 3 Pantin`` + text below gives ``("Pantin", text)``; ``!signer 3`` + text gives ``("", text)``.
        """
        first, _, below = str(self._values.get(name, "")).partition("\n")
        return first.strip(), below.strip()

    def number(self, name: str) -> int:
        value = self._values[name]
        if not isinstance(value, int):
            raise TypeError(f"argument {name!r} is not declared as a number")
        return value

    def __contains__(self, name: str) -> bool:
        return name in self._values


Handler = Callable[[RequestT, Arguments], Awaitable[Reply]]


@dataclass(frozen=True, slots=True)
class Command(Generic[RequestT]):
    """A declared command; call :func:`command` rather than building one by hand."""

    name: str
    english: str
    aliases: tuple[str, ...]
    arguments: tuple[Argument, ...]
    audience: Audience
    summary_key: str
    details_key: str | None
    handler: Handler[RequestT] = field(repr=False)

    @property
    def names(self) -> tuple[str, ...]:
        """Every word that invokes the command, French name first."""
        return tuple(dict.fromkeys((self.name, self.english, *self.aliases)))

    def shown_name(self, lang: str) -> str:
        return self.english if lang == "en" else self.name

    def usage(self, lang: str, prefix: str) -> str:
        """``!langue fr|en`` — the command in ``lang`` with its arguments."""
        return " ".join([prefix + self.shown_name(lang), *(a.usage(lang) for a in self.arguments)])

    def parse(self, text: str) -> Arguments:
        """Reads the words after the command; raises :class:`UsageError` if they do not fit.

        Words are read from the command's own line only: what follows on the lines below belongs to the
        ``rest`` argument, if the command has one, and is one word too many otherwise.
        """
        values: dict[str, str | int] = {}
        line, _, below = text.strip().partition("\n")
        remaining = line.strip()
        for argument in self.arguments:
            if argument.rest:
                # The line break is kept, so that the handler can tell the command line from the lines below.
                word, remaining, below = remaining + ("\n" + below if below else ""), "", ""
            else:
                word, *more = remaining.split(maxsplit=1) or [""]
                remaining = more[0] if more else ""
            if not word:
                if not argument.optional:
                    raise UsageError(argument.name)
                continue
            values[argument.name] = argument.convert(word)
        if remaining or below:
            raise UsageError("extra")
        return Arguments(values)


def command(
    name: str,
    *,
    english: str | None = None,
    aliases: Iterable[str] = (),
    arguments: Iterable[Argument] = (),
    audience: Audience = Audience.ANYONE,
    summary: str | None = None,
    details: str | None = None,
) -> Callable[[Handler[RequestT]], Command[RequestT]]:
    """Declares a command: its French ``name``, its ``english`` name, other aliases, arguments and help keys.

    The help keys default to ``bot.help.<name>`` (one line) and no details.
    """

    def declare(handler: Handler[RequestT]) -> Command[RequestT]:
        return Command(
            name=name,
            english=english or name,
            aliases=tuple(aliases),
            arguments=tuple(arguments),
            audience=audience,
            summary_key=summary or f"bot.help.{name}",
            details_key=details,
            handler=handler,
        )

    return declare


class Registry:
    """Every command the bot answers to, found by any of its names (case does not matter)."""

    def __init__(self, commands: Iterable[Command[Any]]) -> None:
        self._commands = list(commands)
        self._by_name: dict[str, Command[Any]] = {}
        for declared in self._commands:
            for word in declared.names:
                if (other := self._by_name.get(word.casefold())) is not None:
                    raise ValueError(f"{word!r} names both {other.name!r} and {declared.name!r}")
                self._by_name[word.casefold()] = declared

    @classmethod
    def from_modules(cls, *modules: ModuleType) -> Registry:
        """The commands declared in ``modules``, in the order they appear."""
        return cls(value for module in modules for value in vars(module).values() if isinstance(value, Command))

    def __iter__(self) -> Iterator[Command[Any]]:
        return iter(self._commands)

    def find(self, word: str) -> Command[Any] | None:
        return self._by_name.get(word.casefold())

    def suggest(self, word: str) -> Command[Any] | None:
        """The command whose name is closest to a mistyped ``word``, if one is close enough."""
        close = difflib.get_close_matches(word.casefold(), self._by_name, n=1, cutoff=0.7)
        return self._by_name[close[0]] if close else None

    def visible(self, audience: Audience) -> list[Command[Any]]:
        return [c for c in self._commands if c.audience <= audience]

    def overview(self, lang: str, audience: Audience, prefix: str) -> Reply:
        """The list of commands ``audience`` may use, each with its usage and one line of help."""
        lines = [
            Rich().code(c.usage(lang, prefix)).text(" — " + translate(c.summary_key, lang, prefix=prefix))
            for c in self.visible(audience)
        ]
        helper = self.find("aide")
        more = helper.usage(lang, prefix) if helper else prefix
        rich = Rich().strong(translate("bot.help.heading", lang)).items(lines)
        return rich.text(translate("bot.help.more", lang, usage=more)).build()

    def details(self, declared: Command[Any], lang: str, prefix: str) -> Reply:
        """Everything about one command: usage, help, other names."""
        rich = (
            Rich().code(declared.usage(lang, prefix)).line().text(translate(declared.summary_key, lang, prefix=prefix))
        )
        if declared.details_key:
            rich.line().text(translate(declared.details_key, lang, prefix=prefix))
        others = [prefix + n for n in declared.names if n != declared.shown_name(lang)]
        if others:
            rich.line().text(translate("bot.help.aliases", lang, names=", ".join(others)))
        return rich.build()

    def usage_reply(self, declared: Command[Any], lang: str, prefix: str) -> Reply:
        """What a wrong invocation gets: the usage and the one-line help."""
        rich = Rich().text(translate("bot.usage", lang)).code(declared.usage(lang, prefix)).line()
        return rich.text(translate(declared.summary_key, lang, prefix=prefix)).build()
