"""Our own errors.

Every expected failure is a :class:`UnissonError` carrying a message-catalog key and the values the message
needs. The front ends render it in the user's language with :meth:`UnissonError.message`; nothing secret is
ever put in the parameters, so an error can be logged or shown as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from hub.i18n import translate


class UnissonError(Exception):
    """Root of every expected error; subclasses set a default catalog key."""

    key: ClassVar[str] = "error.unexpected"

    def __init__(self, key: str | None = None, /, **params: object) -> None:
        self.message_key = key or type(self).key
        self.params = params
        super().__init__(self.message_key)

    def message(self, lang: str = "fr") -> str:
        """The error as a sentence in ``lang``, saying what went wrong and what to do next."""
        return translate(self.message_key, lang, **self.params)

    def __str__(self) -> str:
        return self.message("en")


class NotFound(UnissonError):
    key = "error.not_found"


class PermissionDenied(UnissonError):
    key = "error.permission"


class InvalidInput(UnissonError):
    key = "error.invalid_input"


class Conflict(UnissonError):
    key = "error.conflict"


class InvalidTransition(UnissonError):
    """An action the announcement's state does not allow; ``state`` is given as its catalog key."""

    key = "error.transition"

    def message(self, lang: str = "fr") -> str:
        state = translate(str(self.params.get("state", "")), lang)
        return translate(self.message_key, lang, **{**self.params, "state": state})


class Problem(UnissonError):
    """One item of a list of problems (a row of an import, a town whose text does not fit)."""


class ProblemList(UnissonError):
    """Several problems reported at once, under a heading."""

    key = "error.problems"
    shown: ClassVar[int] = 20

    def __init__(self, key: str | None = None, /, problems: Sequence[UnissonError] = (), **params: object):
        super().__init__(key, count=len(problems), **params)
        self.problems = list(problems)

    def message(self, lang: str = "fr") -> str:
        lines = [super().message(lang)]
        lines += [f"- {p.message(lang)}" for p in self.problems[: self.shown]]
        if len(self.problems) > self.shown:
            lines.append(translate("error.problems.more", lang, count=len(self.problems) - self.shown))
        return "\n".join(lines)


class TextDoesNotFit(ProblemList):
    key = "error.fit.heading"


class ImportRejected(ProblemList):
    key = "error.import.heading"
