"""The application's settings: one validated object, built once at start-up.

Values come from the environment and from a `.env` file in the working directory;
`.env.example` documents every variable. A wrong value stops the program with one
sentence that names the variable (see `load_settings`).
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SUPPORTED_LANGUAGES = ("fr", "en")
PLACEHOLDER_SECRETS = {"changeme", "change-me", "secret", "xxx", "todo", "your-token-here"}


class SettingsError(Exception):
    """A setting is missing or wrong; the message is one sentence naming it."""


class Settings(BaseSettings):
    """Every setting of the assistant. Field names are the environment variables, upper-cased."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    database_url: str = Field(
        default=f"sqlite:///{PROJECT_ROOT / 'var' / 'voisinage.db'}",
        description="SQLAlchemy URL: sqlite:///path (default) or postgresql://user:pw@host/db.",
    )
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=8000, ge=0, le=65535)
    languages: Annotated[tuple[Literal["fr", "en"], ...], NoDecode] = ("fr", "en")
    default_language: Literal["fr", "en"] = "fr"
    knowledge_base: Path = PROJECT_ROOT / "knowledge" / "project.yml"

    rasa_url: str | None = Field(
        default=None,
        description="URL of an external Rasa server. Empty: train and run a local one.",
    )
    rasa_token: str | None = None
    rasa_port: int = Field(default=0, ge=0, le=65535, description="0 picks a free port.")
    rasa_runtime: Path = PROJECT_ROOT / ".venv-rasa"
    rasa_project: Path = PROJECT_ROOT
    models_dir: Path = PROJECT_ROOT / "models"
    rasa_startup_timeout: float = Field(default=240.0, gt=0)
    rasa_turn_timeout: float = Field(default=4.0, gt=0, le=60)
    action_token: str | None = Field(
        default=None,
        description="Shared secret Rasa sends to our action endpoint. Generated for a local Rasa.",
    )
    action_endpoint_url: str | None = Field(
        default=None,
        description="URL at which Rasa reaches our action endpoint (default: this web server).",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("languages", mode="before")
    @classmethod
    def _split_languages(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip().lower() for part in value.split(",") if part.strip())
        return value

    @field_validator("default_language", "log_level", mode="before")
    @classmethod
    def _normalise_case(cls, value: object, info: object) -> object:
        if isinstance(value, str):
            field = getattr(info, "field_name", "")
            return value.strip().upper() if field == "log_level" else value.strip().lower()
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        scheme = value.split(":", 1)[0].lower()
        if not (scheme.startswith("sqlite") or scheme.startswith("postgresql")):
            raise ValueError("must start with sqlite:/// or postgresql://")
        return value

    @field_validator("rasa_url", "action_endpoint_url", mode="before")
    @classmethod
    def _check_http_url(cls, value: object) -> object:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if not isinstance(value, str) or not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("rasa_token", "action_token", mode="before")
    @classmethod
    def _refuse_placeholder_secret(cls, value: object) -> object:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if isinstance(value, str) and value.strip().lower() in PLACEHOLDER_SECRETS:
            raise ValueError("is a placeholder; set a real secret or leave it empty")
        return value

    @model_validator(mode="after")
    def _check_consistency(self) -> Settings:
        if not self.languages:
            raise ValueError("LANGUAGES must name at least one of fr, en")
        if self.default_language not in self.languages:
            raise ValueError(f"DEFAULT_LANGUAGE '{self.default_language}' is not one of LANGUAGES")
        if self.rasa_url is None and self.action_token is None:
            # A local Rasa server is ours: a fresh secret per run is enough.
            self.action_token = secrets.token_urlsafe(24)
        return self

    @property
    def manages_rasa(self) -> bool:
        """True when the application trains and runs its own local Rasa server."""
        return self.rasa_url is None


def load_settings(**overrides: object) -> Settings:
    """Builds the settings from the environment and `.env`.

    Raises:
        SettingsError: with one sentence naming the first wrong variable.
    """
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        error = exc.errors()[0]
        location = [str(part) for part in error.get("loc", ()) if str(part)]
        name = location[0].upper() if location else "a setting"
        message = str(error.get("msg", "is invalid")).removeprefix("Value error, ")
        given = error.get("input")
        shown = "" if isinstance(given, dict) or given is None else f" (got {given!r})"
        if not location:
            raise SettingsError(f"Invalid settings: {message}.") from exc
        raise SettingsError(f"Setting {name} is invalid: {message}{shown}.") from exc
