"""The ``unisson`` command line on the embedded default, as an operator runs it."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from hub.cli import main

CONFIG = Path(__file__).resolve().parents[2] / "config"


@pytest.fixture
def unisson(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("UNISSON_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("UNISSON_DATABASE_URL", raising=False)
    monkeypatch.delenv("UNISSON_ENCRYPTION_KEYS", raising=False)
    return CliRunner()


def run(runner: CliRunner, *args: str, code: int = 0, stdin: str | None = None) -> str:
    result = runner.invoke(main, list(args), input=stdin)
    assert result.exit_code == code, result.output
    return result.output


def test_first_run_creates_database_and_key_then_imports_example_towns(unisson: CliRunner, tmp_path: Path) -> None:
    from hub.store.migrate import head_revision

    assert f"Base de données à jour (révision {head_revision()})" in run(unisson, "db", "upgrade")
    key_file = tmp_path / "data" / "secret.key"
    assert key_file.exists() and oct(key_file.stat().st_mode & 0o777) == "0o600"

    out = run(unisson, "coalitions", "add", "Petites Villes de demain — Bretagne", "!pvd:example.org")
    assert "Coalition « Petites Villes de demain — Bretagne » créée (n°1)" in out
    out = run(unisson, "towns", "import", str(CONFIG / "towns.example.csv"), "--coalition", "1")
    assert "8 créée(s), 0 mise(s) à jour, 0 inchangée(s) ; 4 référent(s) ajouté(s), 8 nouveau(x) membre(s)" in out
    out = run(unisson, "towns", "import", str(CONFIG / "towns.example.csv"), "--coalition", "1")
    assert "0 créée(s), 0 mise(s) à jour, 8 inchangée(s)" in out
    out = run(unisson, "towns", "import", str(CONFIG / "towns.example.yaml"))
    assert "3 créée(s), 0 mise(s) à jour, 1 inchangée(s)" in out

    listing = run(unisson, "towns", "list", "--coalition", "Petites Villes de demain — Bretagne")
    assert "94038\tL'Haÿ-les-Roses" in listing and "78575\tSaint-Rémy-lès-Chevreuse" in listing
    assert "8 membre(s)" in run(unisson, "coalitions", "list")


def test_errors_are_sentences_in_the_chosen_language(unisson: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("type,code\ncommune,93505\n", "utf-8")
    out = run(unisson, "towns", "import", str(bad), code=1)
    assert "Rien n'a été importé" in out and "Ligne 2" in out and "93055 Pantin" in out
    out = run(unisson, "--lang", "en", "towns", "import", str(bad), code=1)
    assert "Nothing was imported" in out and "Line 2" in out
    out = run(unisson, "coalitions", "add", "X", "not-a-room", code=1)
    assert "n'est pas un identifiant de salon Matrix" in out
    assert "Traceback" not in out


def test_key_generate_rotate_and_audit_export(
    unisson: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = tmp_path / "old.key"
    old_key = run(unisson, "key", "generate").splitlines()[0]
    new_key = run(unisson, "key", "generate").splitlines()[0]
    assert old_key != new_key and len(new_key) == 44
    old.write_text(old_key)
    monkeypatch.setenv("UNISSON_ENCRYPTION_KEYS", f"{new_key},{old_key}")
    assert "0 compte(s) rechiffré(s)" in run(unisson, "key", "rotate")

    run(unisson, "coalitions", "add", "Touraine", "!touraine:example.org")
    exported = run(unisson, "audit", "export")
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert [r["action"] for r in rows] == ["key.rotate", "coalition.create"]
    assert rows[1]["actor"] == "operator:cli"
    as_json = json.loads(run(unisson, "audit", "export", "--format", "json"))
    assert as_json[1]["details"]["room_id"] == "!touraine:example.org"


def test_erase_asks_for_confirmation(unisson: CliRunner) -> None:
    run(unisson, "towns", "import", str(CONFIG / "towns.example.csv"))
    out = run(unisson, "towns", "erase", "Pantin", stdin="n\n", code=1)
    assert "Rien n'a été effacé" in out
    assert "Données de Pantin effacées" in run(unisson, "towns", "erase", "93055", "--yes")
    assert "Aucune annonce." in run(unisson, "announcements", "list")


def test_accounts_verify_prints_a_table_and_fails_when_an_account_cannot_publish(
    unisson: CliRunner, tmp_path: Path
) -> None:
    import asyncio

    from hub.core import OPERATOR, Hub
    from hub.domain.model import Platform
    from hub.settings import Settings

    assert "Aucun compte relié." in run(unisson, "accounts", "verify")
    run(unisson, "towns", "import", str(CONFIG / "towns.example.csv"))

    async def link() -> None:
        hub = Hub.from_settings(Settings())
        try:
            pantin = await hub.towns.find("Pantin")
            await hub.accounts.link(
                OPERATOR, pantin.id, Platform.MASTODON, "@mairie@social.pantin.test", "jeton", "http://127.0.0.1:9"
            )
        finally:
            await hub.close()

    asyncio.run(link())
    out = run(unisson, "accounts", "verify", code=1)
    assert "Pantin\tMastodon\t@mairie@social.pantin.test\tÉCHEC" in out
    assert "0 compte(s) en état de publier, 1 en échec." in out
    assert "jeton" not in out
    assert "Pantin" in run(unisson, "accounts", "verify", "93055", code=1)


def test_bot_without_settings_says_which_are_missing(unisson: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.cli import main as full

    for name in ("HOMESERVER", "USER_ID", "ACCESS_TOKEN", "PASSWORD"):
        monkeypatch.delenv(f"UNISSON_MATRIX_{name}", raising=False)
    result = unisson.invoke(full, ["bot"])
    assert result.exit_code == 1
    assert "UNISSON_MATRIX_HOMESERVER" in result.output and "Traceback" not in result.output
