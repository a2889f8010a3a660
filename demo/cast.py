"""Who takes part in the demo: five real communes (their official names come from the bundled reference), one
officer per town, a coordinator and the bot, each with a Matrix account and their town's social accounts."""

from __future__ import annotations

from dataclasses import dataclass

#: The bot's and the coordinator's Matrix localparts.
BOT = "unisson"
COORDINATOR = "coordination"
#: The domain of the towns' Mastodon handles (the double answers for it on its own local address).
MASTODON_DOMAIN = "mastodon.test"


@dataclass(frozen=True, slots=True)
class DemoTown:
    """A commune of the demo by its INSEE code; ``slug`` names its accounts everywhere."""

    code: str
    slug: str

    @property
    def bluesky_handle(self) -> str:
        # The sandbox PDS gives handles under .test; the part before it must stay within 18 characters.
        return f"{self.slug}.test"

    @property
    def mastodon_username(self) -> str:
        return self.slug.replace("-", "_")

    @property
    def mastodon_handle(self) -> str:
        return f"@{self.mastodon_username}@{MASTODON_DOMAIN}"

    @property
    def officer(self) -> str:
        """The Matrix localpart of the town's communication officer."""
        return f"communication.{self.slug}"


TOWNS = (
    DemoTown("94043", "kremlin-bicetre"),
    DemoTown("25056", "besancon"),
    DemoTown("45234", "orleans"),
    DemoTown("42218", "saint-etienne"),
    DemoTown("93055", "pantin"),
)
#: The town whose council has not decided yet: it declines, and nothing is posted for it.
DECLINING = "45234"
SIGNING = tuple(t for t in TOWNS if t.code != DECLINING)
