"""The application's settings: one validated object, built once at start-up.

Values come from the environment and from a `.env` file in the working directory;
`.env.example` documents every variable. A wrong value stops the program with one
sentence that names the variable (see `load_settings`).
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from pydantic import (
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.common.keys import key_file_is_usable
from bot.common.text import without_secrets

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
        description="URL of an external Rasa server, or several separated by commas (they must "
        "share a tracker store). Empty: train and run a local one.",
    )
    rasa_token: str | None = None
    rasa_port: int = Field(
        default=0, ge=0, le=65535, description="0 picks a free port (the next ones for workers)."
    )
    rasa_workers: int = Field(
        default=1,
        ge=1,
        le=8,
        description="How many local Rasa servers to run (each about 1.2 GB); conversations are "
        "spread over them.",
    )
    rasa_runtime: Path = PROJECT_ROOT / ".venv-rasa"
    rasa_project: Path = PROJECT_ROOT
    models_dir: Path = PROJECT_ROOT / "models"
    rasa_startup_timeout: float = Field(default=240.0, gt=0)
    rasa_turn_timeout: float = Field(default=4.0, gt=0, le=60)
    redis_url: str | None = Field(
        default=None,
        description="Redis as the local Rasa servers' lock store (redis://[:password@]host:port/db).",
    )
    action_token: str | None = Field(
        default=None,
        description="Shared secret Rasa sends to our action endpoint. Generated for a local Rasa.",
    )
    action_endpoint_url: str | None = Field(
        default=None,
        description="URL at which Rasa reaches our action endpoint (default: this web server).",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    telegram_token: str | None = Field(
        default=None, description="Token from BotFather. Empty: no Telegram channel."
    )
    telegram_webhook_url: str | None = Field(
        default=None,
        description="Public HTTPS URL of /telegram/webhook on this server. Empty: long polling.",
    )
    telegram_webhook_secret: str | None = Field(
        default=None,
        description="Secret Telegram sends with each webhook call (generated if empty).",
    )
    telegram_api_url: str | None = Field(
        default=None,
        description="Bot API base URL, e.g. a self-hosted Bot API server (default: Telegram's).",
    )
    discord_token: str | None = Field(
        default=None, description="Bot token from the Discord developer portal. Empty: no Discord."
    )
    discord_channels: Annotated[tuple[int, ...], NoDecode] = Field(
        default=(),
        description="Ids of guild channels where the assistant answers every message.",
    )
    discord_command_guilds: Annotated[tuple[int, ...], NoDecode] = Field(
        default=(),
        description="Guild ids to register slash commands in at once (global takes up to an hour).",
    )
    project_timezone: str = Field(
        default="America/Toronto", description="Time zone of the project team (IANA name)."
    )
    holidays_country: str = Field(default="CA", description="Country of the public holidays.")
    holidays_subdivision: str | None = Field(
        default="QC", description="Province or state of the public holidays (empty: none)."
    )
    extra_holidays: Annotated[tuple[date, ...], NoDecode] = Field(
        default=(), description="Other days off of the team, YYYY-MM-DD separated by commas."
    )
    web_messages_per_minute: int = Field(
        default=30,
        ge=1,
        le=100_000,
        description="Messages one client address (and one conversation) may send to the web "
        "chat per minute; beyond, 429 and a sentence saying to wait.",
    )
    web_conversations_per_hour: int = Field(
        default=30, ge=1, le=100_000, description="New web conversations per client address."
    )
    web_turns_in_flight: int = Field(
        default=32,
        ge=1,
        le=10_000,
        description="Web chat turns handled at once; beyond, 503 at once (try again) rather than "
        "a queue in which every citizen's turn times out.",
    )
    health_token: str | None = Field(
        default=None,
        description="Bearer token of /api/health/details (each channel's last error, for "
        "monitoring); unset: that page answers nobody. /api/health stays public.",
    )
    web_chat_frame_ancestors: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="Origins allowed to embed the web chat in a frame (e.g. the project's "
        "website, https://example.org), separated by spaces or commas; empty: none.",
    )
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="Addresses of the reverse proxies in front of the web server, separated by "
        "commas: only from them is X-Forwarded-For believed (for the login throttle).",
    )
    database_threads: int | None = Field(
        default=None,
        ge=0,
        le=64,
        description="Threads doing a turn's database work off the event loop (empty: one on "
        "SQLite, the connection pool's capacity on PostgreSQL; 0: on the event loop).",
    )
    hear_concerns: bool = Field(
        default=True,
        description="Hear every message for a concern with the trained model (false: only messages "
        "the dialogue understands as a concern are recorded, as before the model existed).",
    )
    hear_ideas: bool = Field(
        default=True,
        description="Hear short messages for an idea or an offer to help with the trained intent "
        "reader, beside the dialogue's intent (false: the dialogue's intent alone decides).",
    )
    check_answers: bool = Field(
        default=True,
        description="Send a reviewed answer only when the trained relevance decision finds that it "
        "contains what was asked, else a passage of the project's documents or an honest \"no "
        "reviewed answer\" (false: the dialogue's reviewed answer is sent as it chose it).",
    )
    concern_acknowledge_days: int = Field(
        default=2, ge=1, le=30, description="Business days to acknowledge a concern."
    )
    concern_respond_days: int = Field(
        default=21, ge=1, le=120, description="Business days to answer a grievance (~30 days)."
    )
    concern_objection_respond_days: int = Field(
        default=30,
        ge=1,
        le=120,
        description="Business days to answer an objection to the project or its process (~6 weeks).",
    )
    retention_days: int = Field(
        default=730, ge=30, description="Days personal data is kept before `bot privacy purge`."
    )
    pseudonym_secret: str | None = Field(
        default=None,
        description="Key of platform user-id pseudonyms (generated into PSEUDONYM_KEY_FILE if empty).",
    )
    pseudonym_key_file: Path = Field(
        default=PROJECT_ROOT / "var" / "secrets" / "pseudonym.key",
        description="Where the generated pseudonym key is kept when PSEUDONYM_SECRET is empty: "
        "a file readable by its owner only, outside the database (never in backups of it).",
    )

    desk_hours: str | None = Field(
        default=None,
        description="When the team answers, in PROJECT_TIMEZONE (holidays excluded). Empty: the "
        "knowledge base's project.contact.hours (one source); set, it must say the same.",
    )
    desk_typical_wait_minutes: int = Field(
        default=30,
        ge=1,
        le=1440,
        description="How long a person usually takes to join, in minutes.",
    )
    desk_alert_minutes: int = Field(
        default=15, ge=1, le=1440, description="Alert the staff again about a request this old."
    )
    desk_staff_anonymous: bool = Field(
        default=False, description="Name staff to citizens as 'a member of the project team'."
    )
    handoff_categories: Annotated[tuple[str, ...], NoDecode] = Field(
        default=("health_safety",),
        description="Concern categories that always bring a person in.",
    )
    emergency_number: str = Field(
        default="911", max_length=20, description="Said to a citizen who mentions danger."
    )
    desk_session_hours: int = Field(
        default=12, ge=1, le=720, description="How long a web desk login lasts."
    )
    desk_idle_minutes: int = Field(
        default=60,
        ge=5,
        le=24 * 60,
        description="A web desk login ends after this long without use.",
    )
    desk_secure_cookies: bool | None = Field(
        default=None,
        description=(
            "Send the web desk's cookies over HTTPS only. Unset: yes, unless WEB_HOST is a "
            "loopback address. Set false only to try the desk over plain HTTP on a trusted network."
        ),
    )
    desk_telegram_chat: int | None = Field(
        default=None,
        description="Id of the staff forum supergroup on Telegram (a topic per conversation).",
    )
    desk_telegram_staff: Annotated[tuple[int, ...], NoDecode] = Field(
        default=(), description="Telegram user ids of the community managers."
    )
    desk_discord_channel: int | None = Field(
        default=None, description="Id of the staff channel on Discord (a thread per conversation)."
    )
    desk_discord_role: int | None = Field(
        default=None, description="Id of the Discord role of the community managers."
    )

    # --- Listening in community groups (see bot/listening/groups.py) ---------------------
    listen_telegram_chats: Annotated[tuple[int, ...], NoDecode] = Field(
        default=(),
        description="Ids of the Telegram groups where the assistant listens (negative numbers).",
    )
    listen_discord_channels: Annotated[tuple[int, ...], NoDecode] = Field(
        default=(), description="Ids of the Discord channels where the assistant listens."
    )
    listen_keywords: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description=(
            "Words or expressions that make a group message worth recording, comma-separated. "
            "Empty (with LISTEN_HASHTAGS empty too): the project's names in the knowledge base."
        ),
    )
    listen_hashtags: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), description="Hashtags that make a group message worth recording."
    )
    project_hashtag: str | None = Field(
        default=None,
        description=(
            "The hashtag the project promotes (e.g. #TroisCollines): printed in every news "
            "update and listened for in the community groups, beside LISTEN_HASHTAGS."
        ),
    )

    @field_validator("listen_telegram_chats", mode="before")
    @classmethod
    def _split_group_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]
            if not all(re.fullmatch(r"-\d+", part) for part in parts):
                raise ValueError(
                    "must be Telegram group ids, negative numbers such as -1001234567890, "
                    "separated by commas"
                )
            return tuple(int(part) for part in parts)
        return value

    @field_validator("listen_discord_channels", mode="before")
    @classmethod
    def _split_channel_ids(cls, value: object) -> object:
        return cls._split_ids(value)

    @field_validator("listen_keywords", "listen_hashtags", mode="before")
    @classmethod
    def _split_terms(cls, value: object, info: ValidationInfo) -> object:
        from bot.common.matching import TermError, parse_hashtags, parse_keywords

        if isinstance(value, str):
            value = tuple(part for part in value.split(",") if part.strip())
        if isinstance(value, tuple | list):
            parse = parse_keywords if info.field_name == "listen_keywords" else parse_hashtags
            try:
                return parse([str(term) for term in value])
            except TermError as exc:
                raise ValueError(str(exc)) from exc
        return value

    @field_validator("project_hashtag", mode="before")
    @classmethod
    def _one_hashtag(cls, value: object) -> object:
        from bot.common.matching import TermError, parse_hashtags

        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if isinstance(value, str):
            if "," in value:
                raise ValueError("is one hashtag (LISTEN_HASHTAGS takes several)")
            try:
                return parse_hashtags([value])[0]
            except TermError as exc:
                raise ValueError(str(exc)) from exc
        return value

    def listened_terms(
        self, project_names: Mapping[str, str]
    ) -> tuple[tuple[str, ...], tuple[str, ...], str]:
        """The keywords and hashtags a community group is listened for, and where they come
        from: LISTEN_KEYWORDS and LISTEN_HASHTAGS, or else the project's names; the project's
        own hashtag (PROJECT_HASHTAG) in either case."""
        from bot.common.matching import project_terms

        keywords, hashtags = self.listen_keywords, self.listen_hashtags
        origin = "LISTEN_KEYWORDS, LISTEN_HASHTAGS"
        if not keywords and not hashtags:
            keywords, hashtags = project_terms(project_names)
            origin = "the project's names"
        if self.project_hashtag and self.project_hashtag not in hashtags:
            hashtags = (*hashtags, self.project_hashtag)
            origin += ", PROJECT_HASHTAG"
        return keywords, hashtags, origin

    @model_validator(mode="after")
    def _check_listening(self) -> Settings:
        if self.listen_telegram_chats and not self.telegram_token:
            raise ValueError("LISTEN_TELEGRAM_CHATS needs TELEGRAM_TOKEN (the bot that listens)")
        if self.desk_telegram_chat is not None and (
            self.desk_telegram_chat in self.listen_telegram_chats
        ):
            raise ValueError(
                f"the staff group {self.desk_telegram_chat} (DESK_TELEGRAM_CHAT) cannot also be "
                "a community group listened to (LISTEN_TELEGRAM_CHATS)"
            )
        if self.listen_discord_channels and not self.discord_token:
            raise ValueError("LISTEN_DISCORD_CHANNELS needs DISCORD_TOKEN (the bot that listens)")
        if self.desk_discord_channel is not None and (
            self.desk_discord_channel in self.listen_discord_channels
        ):
            raise ValueError(
                f"the staff channel {self.desk_discord_channel} (DESK_DISCORD_CHANNEL) cannot "
                "also be a community channel listened to (LISTEN_DISCORD_CHANNELS)"
            )
        both = sorted(set(self.discord_channels) & set(self.listen_discord_channels))
        if both:
            raise ValueError(
                f"channel {both[0]} is in DISCORD_CHANNELS (the assistant answers every message) "
                "and in LISTEN_DISCORD_CHANNELS (it listens without answering): choose one"
            )
        return self

    @field_validator("languages", mode="before")
    @classmethod
    def _split_languages(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip().lower() for part in value.split(",") if part.strip())
        return value

    @field_validator("handoff_categories", mode="before")
    @classmethod
    def _split_categories(cls, value: object) -> object:
        from bot.common.phrases import CATEGORY_NAMES  # the contract's concern categories

        if isinstance(value, str):
            value = tuple(part.strip().lower() for part in value.split(",") if part.strip())
        for category in value if isinstance(value, tuple | list) else ():
            if category not in CATEGORY_NAMES:
                raise ValueError(
                    f"{category!r} is not a concern category (one of {', '.join(CATEGORY_NAMES)})"
                )
        return value

    @field_validator("desk_hours")
    @classmethod
    def _check_desk_hours(cls, value: str | None) -> str | None:
        from bot.common.hours import DeskHours

        if value is None or not value.strip():
            return None
        DeskHours.parse(value)
        return value

    @field_validator(
        "discord_channels", "discord_command_guilds", "desk_telegram_staff", mode="before"
    )
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]
            if not all(part.isdigit() for part in parts):
                raise ValueError("must be numeric ids separated by commas")
            return tuple(int(part) for part in parts)
        return value

    @field_validator("web_chat_frame_ancestors", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part for part in re.split(r"[\s,]+", value) if part]
        if isinstance(value, list | tuple):
            for origin in value:
                if not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:\d{1,5})?", str(origin)):
                    raise ValueError(f"{origin!r} is not an origin like https://example.org")
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_addresses(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list | tuple):
            for address in value:
                try:
                    ipaddress.ip_address(str(address))
                except ValueError as exc:
                    raise ValueError(f"{address!r} is not an IP address") from exc
        return value

    @field_validator("extra_holidays", mode="before")
    @classmethod
    def _split_dates(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @property
    def desk_cookies_secure(self) -> bool:
        """Off loopback the desk is reached over HTTPS (a reverse proxy): its cookies must never
        travel in clear. On 127.0.0.1 a browser on the same machine uses plain HTTP."""
        if self.desk_secure_cookies is not None:
            return self.desk_secure_cookies
        return self.web_host not in ("127.0.0.1", "localhost", "::1")

    @field_validator(
        "holidays_subdivision",
        "desk_telegram_chat",
        "desk_discord_channel",
        "desk_discord_role",
        "desk_secure_cookies",
        "database_threads",
        mode="before",
    )
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("project_timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("is not a known time zone (e.g. America/Toronto)") from exc
        return value

    @model_validator(mode="after")
    def _check_holidays(self) -> Settings:
        try:
            holidays.country_holidays(self.holidays_country, subdiv=self.holidays_subdivision)
        except NotImplementedError as exc:
            raise ValueError(
                f"HOLIDAYS_COUNTRY/HOLIDAYS_SUBDIVISION {self.holidays_country}/"
                f"{self.holidays_subdivision} are not known to the holidays package"
            ) from exc
        return self

    @field_validator("telegram_token", mode="before")
    @classmethod
    def _check_telegram_token(cls, value: object) -> object:
        value = cls._refuse_placeholder_secret(value)
        if isinstance(value, str) and not re.fullmatch(r"\d+:[A-Za-z0-9_-]{20,}", value.strip()):
            raise ValueError("does not look like a BotFather token (digits, a colon, then letters)")
        return value.strip() if isinstance(value, str) else value

    @field_validator("telegram_webhook_secret", mode="before")
    @classmethod
    def _check_webhook_secret(cls, value: object) -> object:
        value = cls._refuse_placeholder_secret(value)
        if isinstance(value, str) and not re.fullmatch(r"[A-Za-z0-9_-]{16,256}", value):
            # Telegram accepts 1 character; a secret that short is guessed by anyone.
            raise ValueError(
                "must be 16 to 256 letters, digits, _ or - (e.g. `openssl rand -hex 32`)"
            )
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

    @field_validator("rasa_url", mode="before")
    @classmethod
    def _check_rasa_urls(cls, value: object) -> object:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if not isinstance(value, str):
            raise ValueError("must be an http:// or https:// URL, or several separated by commas")
        urls = [url.strip().rstrip("/") for url in value.split(",") if url.strip()]
        if not urls or not all(url.startswith(("http://", "https://")) for url in urls):
            raise ValueError("must be an http:// or https:// URL, or several separated by commas")
        return ",".join(urls)

    @field_validator("redis_url", mode="before")
    @classmethod
    def _check_redis_url(cls, value: object) -> object:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if not isinstance(value, str) or not value.startswith(("redis://", "rediss://")):
            raise ValueError("must be a redis:// or rediss:// URL (redis://host:6379/0)")
        try:
            database = urlsplit(value).path.lstrip("/")
            urlsplit(value).port  # noqa: B018 (raises on a port that is not a number)
        except ValueError as exc:
            raise ValueError(
                "must be a redis:// URL with a numeric port (redis://host:6379/0)"
            ) from exc
        if database and not database.isdigit():
            raise ValueError("must end with a database number (redis://host:6379/0)")
        return value

    @field_validator(
        "action_endpoint_url", "telegram_webhook_url", "telegram_api_url", mode="before"
    )
    @classmethod
    def _check_http_url(cls, value: object) -> object:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if not isinstance(value, str) or not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator(
        "rasa_token",
        "action_token",
        "discord_token",
        "pseudonym_secret",
        "health_token",
        mode="before",
    )
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
        if self.pseudonym_secret is not None and len(self.pseudonym_secret) < 16:
            raise ValueError("PSEUDONYM_SECRET must be at least 16 characters")
        if self.pseudonym_secret is None and not key_file_is_usable(self.pseudonym_key_file):
            raise ValueError(
                f"PSEUDONYM_KEY_FILE {self.pseudonym_key_file} does not hold a key (64 hex "
                "digits): restore it from your secrets store, or set PSEUDONYM_SECRET"
            )
        if self.desk_telegram_chat is not None and not self.telegram_token:
            raise ValueError(
                "DESK_TELEGRAM_CHAT needs TELEGRAM_TOKEN (the same bot serves the staff group)"
            )
        if self.desk_telegram_chat is not None and not self.desk_telegram_staff:
            raise ValueError("DESK_TELEGRAM_CHAT needs DESK_TELEGRAM_STAFF (who may act there)")
        if self.desk_discord_channel is not None and not self.discord_token:
            raise ValueError(
                "DESK_DISCORD_CHANNEL needs DISCORD_TOKEN (the same bot serves the staff channel)"
            )
        if self.desk_discord_channel is not None and self.desk_discord_role is None:
            raise ValueError("DESK_DISCORD_CHANNEL needs DESK_DISCORD_ROLE (who may act there)")
        if self.rasa_url is not None and self.rasa_workers > 1:
            raise ValueError(
                "RASA_WORKERS is for the local Rasa servers; with RASA_URL, list the servers there"
            )
        if self.rasa_port and self.rasa_port + self.rasa_workers - 1 > 65535:
            raise ValueError("RASA_PORT leaves no room for RASA_WORKERS servers (ports above it)")
        if self.rasa_url is None and self.action_token is None:
            # A local Rasa server is ours: a fresh secret per run is enough.
            self.action_token = secrets.token_urlsafe(24)
        return self

    @property
    def rasa_urls(self) -> list[str]:
        """The external Rasa servers (none when the application runs its own)."""
        return self.rasa_url.split(",") if self.rasa_url else []

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
        secret = any(word in name for word in ("TOKEN", "SECRET", "PASSWORD"))
        hidden = secret or isinstance(given, dict) or given is None
        shown = "" if hidden else f" (got {without_secrets(str(given))!r})"
        if not location:
            raise SettingsError(f"Invalid settings: {message}.") from exc
        raise SettingsError(f"Setting {name} is invalid: {message}{shown}.") from exc
