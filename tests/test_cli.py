"""The command line: API keys are printed once, alone on the last line; PostgreSQL needs a key."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from service.cli import app
from service.config import Settings, get_settings
from service.errors import ConfigurationError
from service.security import load_secret_box


@pytest.fixture
def sqlite_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    db = tmp_path / "cli.db"
    monkeypatch.setenv("PORTFOLIO_SYNC_DATABASE_URL", f"sqlite+aiosqlite:///{db}")
    get_settings.cache_clear()
    yield db
    get_settings.cache_clear()


def test_apikey_create_prints_key_last_and_list_hides_it(sqlite_env: Path) -> None:
    runner = CliRunner()
    created = runner.invoke(app, ["apikey", "create", "--role", "admin", "--name", "ops"])
    assert created.exit_code == 0, created.output
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("psk_") and " " not in key
    listed = runner.invoke(app, ["apikey", "list"])
    assert listed.exit_code == 0
    assert "ops" in listed.stdout and key not in listed.stdout
    dup = runner.invoke(app, ["apikey", "create", "--role", "reader", "--name", "ops"])
    assert dup.exit_code == 1
    revoked = runner.invoke(app, ["apikey", "revoke", "ops"])
    assert revoked.exit_code == 0
    missing = runner.invoke(app, ["apikey", "revoke", "nobody"])
    assert missing.exit_code == 1


def test_sqlite_without_key_writes_a_private_key_file(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    box = load_secret_box(settings)
    key_file = tmp_path / "x.key"
    assert key_file.exists()
    assert key_file.stat().st_mode & 0o777 == 0o600
    token = box.encrypt_json({"token": "ghp_secret"})
    assert "ghp_secret" not in token
    assert load_secret_box(settings).decrypt_json(token) == {"token": "ghp_secret"}


def test_postgres_without_key_refuses_to_start() -> None:
    settings = Settings(database_url="postgresql+asyncpg://u@localhost/db")
    with pytest.raises(ConfigurationError, match="SECRET_KEY is required"):
        load_secret_box(settings)


def test_key_rotation_decrypts_old_tokens() -> None:
    from service.security import SecretBox, generate_secret_key

    old, new = generate_secret_key(), generate_secret_key()
    token = SecretBox([old]).encrypt("s3cret")
    rotated_box = SecretBox([new, old])
    assert rotated_box.decrypt(token) == "s3cret"
    assert SecretBox([new]).decrypt(rotated_box.rotate(token)) == "s3cret"
