from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from hub.settings import Settings


def test_environment_and_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("UNISSON_ADMINS=@a:x.org, @b:x.org\nUNISSON_DEFAULT_LANGUAGE=en\n")
    monkeypatch.setenv("UNISSON_ENCRYPTION_KEYS", "k1,k2")
    settings = Settings()
    assert settings.admins == ["@a:x.org", "@b:x.org"]
    assert settings.default_language == "en"
    assert "k1" not in repr(settings) and settings.encryption_keys.get_secret_value() == "k1,k2"


def test_embedded_default_is_sqlite_in_the_data_folder(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]
    assert settings.resolved_database_url == f"sqlite+aiosqlite:///{tmp_path.resolve()}/unisson.db"


def test_unknown_language_is_refused() -> None:
    with pytest.raises(ValidationError):
        Settings(default_language="de", _env_file=None)  # type: ignore[call-arg]


def test_every_setting_is_documented_in_the_example_file() -> None:
    example = (Path(__file__).resolve().parents[2] / "config" / "unisson.example.env").read_text("utf-8")
    documented = {line.split("=", 1)[0] for line in example.splitlines() if line.startswith("UNISSON_")}
    from bot.settings import BotSettings

    expected = {f"UNISSON_{name.upper()}" for name in Settings.model_fields}
    expected |= {f"UNISSON_MATRIX_{name.upper()}" for name in BotSettings.model_fields}
    assert documented == expected
