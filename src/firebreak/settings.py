"""Runtime settings, read from the environment (FIREBREAK_*) and never at import time."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob an operator may turn; each field documents itself in the README."""

    model_config = SettingsConfigDict(env_prefix="FIREBREAK_", env_file=".env", extra="ignore")

    data_dir: Path = Field(Path("firebreak-data"), description="Folder for the SQLite file and artefacts.")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default is SQLite at DATA_DIR/firebreak.db.")
    host: str = Field("127.0.0.1", description="Address `firebreak serve` binds.")
    port: int = Field(8000, ge=1, le=65535, description="Port `firebreak serve` binds.")
    public_url: str | None = Field(None, description="Base URL used in links; defaults to http://HOST:PORT.")

    max_text_chars: int = Field(20_000, ge=1, description="Longest mention text accepted.")
    max_batch_size: int = Field(1_000, ge=1, description="Most mentions in one webhook request.")
    max_body_bytes: int = Field(8 * 1024 * 1024, ge=1024, description="Largest webhook body accepted.")
    webhook_tolerance_seconds: int = Field(
        300, ge=1, description="How far a signed webhook timestamp may be from now (replay guard)."
    )

    worker_enabled: bool = Field(True, description="Run the in-process pipeline worker inside `serve`.")
    worker_batch_size: int = Field(256, ge=1, le=10_000, description="Mentions per pipeline batch.")
    worker_idle_seconds: float = Field(1.0, gt=0, description="Worker poll interval when idle.")
    pipeline_max_attempts: int = Field(5, ge=1, description="Tries before a failing mention is parked.")
    pipeline_retry_base_seconds: float = Field(
        5.0, gt=0, description="First retry delay; doubles each try (capped at one hour)."
    )
    playbook_path: Path | None = Field(None, description="Playbook YAML in force; default is the shipped guide.")
    secret_key: str | None = Field(
        None, description="Signs web session cookies; generated into DATA_DIR/secret_key when unset."
    )
    alert_email_url: str | None = Field(
        None, description="Apprise mailto URL (SMTP server, sender) used to e-mail people their SLA alerts."
    )
    scheduler_interval_seconds: float = Field(0.25, gt=0, le=60, description="How often the SLA scheduler looks.")
    alerts_interval_seconds: float = Field(1.0, gt=0, le=300, description="How often due alerts are sent.")
    models_dir: Path | None = Field(
        None, description="Trained text models to use; default DATA_DIR/models if trained, else the shipped ones."
    )
    feed_poll_enabled: bool = Field(True, description="Poll RSS/Atom channels inside `serve`.")
    feed_default_interval_seconds: int = Field(300, ge=10, description="Default feed poll interval.")

    @field_validator("database_url")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value or None

    @property
    def resolved_database_url(self) -> str:
        """Return the database URL, defaulting to the SQLite file in the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'firebreak.db').resolve()}"

    @property
    def resolved_models_dir(self) -> Path | None:
        """Return the models folder to load, or None for the artefacts shipped in the package."""
        if self.models_dir is not None:
            return self.models_dir
        trained = self.data_dir / "models"
        return trained if (trained / "manifest.json").exists() else None

    @property
    def base_url(self) -> str:
        """Return the URL people use to reach this deployment."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings, read once on first use."""
    return Settings()
