"""Settings come from the environment; a production configuration passes check --deploy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _manage(*args, env_extra, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "DEBUG", "SECRET_KEY"}}
    env.update({"VAR_DIR": str(tmp_path), **env_extra})
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_check_deploy_passes_for_production_settings(tmp_path):
    result = _manage(
        "check", "--deploy", "--fail-level", "WARNING",
        # What `./run serve` runs with: DEBUG off (the default), HTTPS on.
        env_extra={"HTTPS": "1", "SECRET_KEY": "Jq8#vR2!mZ7pL0@tX5^wK9&nB3*cF6(hD1)sG4-yU8=eA2+oI7_", "ALLOWED_HOSTS": "reader.example.org"},
        tmp_path=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_debug_is_off_unless_asked_for(tmp_path):
    code = "from django.conf import settings as s; print(s.DEBUG, s.STORAGES['staticfiles']['BACKEND'])"
    default = _manage("shell", "-v", "0", "-c", code, env_extra={}, tmp_path=tmp_path)
    assert default.stdout.split() == ["False", "readerstudy.staticstorage.StaticStorage"], default.stderr
    # The same static storage under DEBUG: collectstatic writes the manifest whichever way it ran.
    debug = _manage("shell", "-v", "0", "-c", code, env_extra={"DEBUG": "1"}, tmp_path=tmp_path)
    assert debug.stdout.split() == ["True", "readerstudy.staticstorage.StaticStorage"], debug.stderr


def test_without_a_secret_key_one_is_made_once_and_kept_private(tmp_path):
    code = "from django.conf import settings as s; print(s.SECRET_KEY)"
    first = _manage("shell", "-v", "0", "-c", code, env_extra={}, tmp_path=tmp_path)
    second = _manage("shell", "-v", "0", "-c", code, env_extra={}, tmp_path=tmp_path)
    assert first.returncode == 0, first.stderr
    key = first.stdout.strip()
    assert len(key) >= 50 and key == second.stdout.strip()
    assert "insecure" not in key
    key_file = tmp_path / "secret_key"
    assert key_file.read_text() == key
    assert key_file.stat().st_mode & 0o077 == 0


def test_a_short_secret_key_is_refused(tmp_path):
    result = _manage("check", env_extra={"SECRET_KEY": "too-short"}, tmp_path=tmp_path)
    assert result.returncode != 0
    assert "SECRET_KEY must be at least 50 random characters" in result.stderr


def test_bad_boolean_is_named(tmp_path):
    result = _manage("check", env_extra={"DEBUG": "perhaps"}, tmp_path=tmp_path)
    assert result.returncode != 0
    assert "DEBUG='perhaps' is not a boolean" in result.stderr


def test_database_and_broker_urls_switch_backends(tmp_path):
    code = (
        "from django.conf import settings as s; "
        "print(s.DATABASES['default']['ENGINE'], s.CELERY_BROKER_URL)"
    )
    result = _manage(
        "shell", "-v", "0", "-c", code,
        env_extra={"DATABASE_URL": "postgres://u@127.0.0.1:5432/x", "CELERY_BROKER_URL": "redis://127.0.0.1:6379/3"},
        tmp_path=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.postgresql", "redis://127.0.0.1:6379/3"]
    default = _manage("shell", "-v", "0", "-c", code, env_extra={}, tmp_path=tmp_path)
    assert default.stdout.split() == ["readerstudy.ops.sqlite3", "filesystem://"]  # Django's, with a write gate
