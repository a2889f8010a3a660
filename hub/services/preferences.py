"""What each person chooses for themselves: for now, the language the front ends answer them in."""

from __future__ import annotations

from hub.errors import InvalidInput
from hub.i18n import LANGUAGES
from hub.services.context import ServiceContext
from hub.store import UnitOfWork

#: Audit actions that name a person because of their own preferences (forgotten with them).
PREFERENCE_ACTIONS = ("user.language",)


class PreferenceService:
    def __init__(self, context: ServiceContext) -> None:
        self.context = context

    async def language(self, user_id: str) -> str | None:
        """The language ``user_id`` chose, or None if they never chose one."""
        async with self.context.store.unit() as uow:
            return await uow.preferences.language(user_id)

    async def set_language(self, user_id: str, language: str) -> str:
        """Records the language ``user_id`` wants to be answered in (their own choice: no role needed)."""
        language = language.strip().lower()
        if language not in LANGUAGES:
            raise InvalidInput("error.language", language=language, allowed=", ".join(LANGUAGES))
        async with self.context.store.unit() as uow:
            if await uow.preferences.language(user_id) != language:
                await uow.preferences.set_language(user_id, language)
                await uow.audit.append(user_id, "user.language", details={"language": language})
        return language


async def forget_preferences(uow: UnitOfWork, user_id: str, replacement: str) -> bool:
    """Deletes what ``user_id`` chose for themselves and unnames them in the audit of those choices (GDPR)."""
    forgotten = await uow.preferences.forget(user_id)
    await uow.audit.pseudonymise_actor(user_id, PREFERENCE_ACTIONS, replacement)
    return forgotten
