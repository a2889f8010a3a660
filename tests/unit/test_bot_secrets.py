"""What the bot takes for a secret in a shared room, and what it lets through; reminder offsets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.reminders import due_offset, label
from bot.secrets import HIDDEN, looks_like_secret, masked
from bot.settings import parse_offsets

MASTODON_TOKEN = "Zq3xT0kVb8LrW2mNcP5sY7aD9fGhJ1uE4iO6pQ8rS0t"


@pytest.mark.parametrize(
    "text",
    [
        "abcd-efgh-ijkl-mnop",
        "voilà le mot de passe d'application : k2ps-7qwm-xx3a-9fjd merci",
        f"mon jeton {MASTODON_TOKEN}",
        MASTODON_TOKEN,
        "le mot de passe est Soleil2026!",
        "Mot de passe : « hunter22 »",
        "password=Tr0ub4dor&3",
        "!compte bluesky pantin.bsky.social abcd-efgh-ijkl-mnop",
        "!compte mastodon @pantin@mastodon.social jeton",
        "!account bluesky x.bsky.social whatever",
        "!compte-coalition mastodon @pvd@mastodon.social jeton Petites villes",
        "!coalition-account bluesky pvd.bsky.social whatever",
    ],
)
def test_secret_looking_messages_are_caught(text: str) -> None:
    assert looks_like_secret(text)


@pytest.mark.parametrize(
    "text",
    [
        "Bonjour à toutes et à tous, la réunion est décalée au 20/01/2026 à 9h30.",
        "J'ai oublié mon mot de passe, comment faire ?",
        "Le mot de passe de la réunion vous sera envoyé par courriel.",
        "Rendez-vous le 2026-01-20 à 14:00, salle 12-B, tél. 01-23-45-67-89.",
        "Voir https://www.ville-pantin.fr/actualites/2026/01/depart-de-x-une-decision-collective-et-reflechie-9876",
        "Le lien : https://matrix.to/#/!aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789abcd:unisson.test",
        "Événement $aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789abcdEFGH cité plus haut.",
        "------------------------------------------------------------",
        "Anticonstitutionnellement, la communauté d'agglomération vote jeudi.",
        "Le jeton de présence est à retirer à l'accueil.",
        "!compte",
        "!aide compte",
        "UUID 550e8400-e29b-41d4-a716-446655440000 du dossier",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert not looks_like_secret(text)


def test_masking_hides_the_secret_and_keeps_the_rest() -> None:
    hidden = masked(f"merci, voici le jeton {MASTODON_TOKEN} pour Pantin")
    assert MASTODON_TOKEN not in hidden and HIDDEN in hidden and hidden.endswith("pour Pantin")
    command = masked("!compte mastodon @pantin@mastodon.social SECRET-TOKEN Pantin")
    assert "SECRET" not in command and command.startswith("!compte mastodon")


def test_reminder_offsets_are_read_from_the_setting() -> None:
    assert parse_offsets("24h, 48h,2h") == (timedelta(hours=48), timedelta(hours=24), timedelta(hours=2))
    assert parse_offsets("1j, 90m") == (timedelta(days=1), timedelta(minutes=90))
    assert parse_offsets("") == ()
    with pytest.raises(ValueError, match="demain"):
        parse_offsets("24h,demain")
    assert [label(o) for o in parse_offsets("2d,90m")] == ["48h", "90m"]


def test_the_latest_due_reminder_is_the_one_sent() -> None:
    deadline = datetime(2026, 1, 20, 12, tzinfo=UTC)
    offsets = parse_offsets("48h,24h,2h")
    assert due_offset(deadline, deadline - timedelta(hours=50), offsets) is None
    assert due_offset(deadline, deadline - timedelta(hours=47), offsets) == timedelta(hours=48)
    assert due_offset(deadline, deadline - timedelta(hours=1), offsets) == timedelta(hours=2)
    assert due_offset(deadline, deadline, offsets) is None
