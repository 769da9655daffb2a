"""Settings read from the environment (and an optional `.env` file)."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from platformdirs import user_data_dir
from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_data_dir() -> Path:
    return Path(user_data_dir("workflow-builder", appauthor=False))


class Settings(BaseSettings):
    """Everything the product reads from its environment."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_prefix="WFB_")

    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "WFB_DATABASE_URL"),
        description="PostgreSQL URL. Unset: an embedded PostgreSQL is started in data_dir.",
    )
    owner_database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("WFB_OWNER_DATABASE_URL"),
        description="PostgreSQL URL of the schema's owner, used only to migrate (`wfb db`, "
        "start-up). Unset: DATABASE_URL. Lets DATABASE_URL name the unprivileged wfb_app role.",
    )
    data_dir: Path = Field(default_factory=_default_data_dir)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    secret_key: SecretStr | None = Field(
        default=None, description="Signs tokens. Unset: generated once and kept in data_dir."
    )
    encryption_key: SecretStr | None = Field(default=None, description="Encrypts secrets.")
    log_level: str = "info"
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="json: one JSON object per line, with request, run and node ids.",
    )
    trusted_proxies: str = Field(
        default="",
        description="CIDRs of the reverse proxies whose X-Forwarded-For / Forwarded headers "
        "name the client (comma-separated). Empty: the headers are ignored.",
    )
    egress_allow: str = Field(
        default="",
        description="What tenant workflows may connect to beyond public addresses "
        "(comma-separated CIDRs and HOST:PORT entries). Empty: loopback, private, link-local "
        "and other non-public addresses are refused.",
    )
    worker_id: str | None = Field(
        default=None, description="This worker's engine executor id (default: host-pid-random)."
    )
    heartbeat_seconds: float = Field(default=5.0, gt=0, description="Worker heartbeat period.")
    worker_dead_after_seconds: float = Field(
        default=30.0, gt=0, description="Silence after which a worker's runs are resumed elsewhere."
    )
    engine: Literal["dbos", "temporal"] = Field(
        default="dbos", description="The durable engine runs execute on."
    )
    temporal_address: str | None = Field(
        default=None,
        validation_alias=AliasChoices("TEMPORAL_ADDRESS", "WFB_TEMPORAL_ADDRESS"),
        description="host:port of a Temporal frontend. Unset: `wfb up` starts a bundled one.",
    )
    temporal_namespace: str = Field(
        default="default",
        validation_alias=AliasChoices("TEMPORAL_NAMESPACE", "WFB_TEMPORAL_NAMESPACE"),
    )
    temporal_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("TEMPORAL_API_KEY", "WFB_TEMPORAL_API_KEY"),
        description="API key of a Temporal Cloud namespace (implies TLS).",
    )
    temporal_tls: bool = Field(
        default=False,
        validation_alias=AliasChoices("TEMPORAL_TLS", "WFB_TEMPORAL_TLS"),
        description="Connect to Temporal over TLS (set by a key, a client certificate or this).",
    )
    temporal_tls_cert: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("TEMPORAL_TLS_CERT", "WFB_TEMPORAL_TLS_CERT"),
        description="Client certificate (PEM) for mTLS, e.g. a Temporal Cloud namespace's.",
    )
    temporal_tls_key: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("TEMPORAL_TLS_KEY", "WFB_TEMPORAL_TLS_KEY"),
        description="The client certificate's private key (PEM).",
    )
    temporal_tls_ca: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("TEMPORAL_TLS_CA", "WFB_TEMPORAL_TLS_CA"),
        description="CA certificate (PEM) to verify the server with (default: system roots).",
    )
    temporal_port: int = Field(
        default=7233, ge=1, le=65535, description="gRPC port of the bundled Temporal server."
    )
    temporal_ui_port: int = Field(
        default=8233, ge=1, le=65535, description="Web UI port of the bundled Temporal server."
    )
    temporal_ui_url: str | None = Field(
        default=None,
        description="Base URL of the Temporal Web UI the run page links to "
        "(default: the bundled server's).",
    )
    worker_drain_seconds: float = Field(
        default=30.0, ge=0, description="On stop, how long calls in flight may take to finish."
    )
    metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="A worker serves Prometheus metrics on this port (unset: no listener).",
    )
    metrics_host: str = Field(
        default="127.0.0.1", description="Interface a worker's metrics listener binds."
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="Bearer token the API's /metrics asks for (unset: loopback clients only).",
    )
    max_pending_runs: int = Field(
        default=10_000,
        ge=1,
        description="Runs a task queue may hold accepted but not started; starts beyond: 429.",
    )

    unsafe_code_execution: bool = Field(
        default=False,
        description="Run python_code without its sandbox, with the worker's own rights. "
        "Only for an installation whose every user is trusted (single-tenant).",
    )
    sandbox_bwrap: Path = Field(
        default=Path("/usr/bin/bwrap"), description="bubblewrap, which confines python_code."
    )
    sandbox_python: Path = Field(
        default=Path("/usr/bin/python3"),
        description="The system Python python_code runs in (its standard library in /usr/lib).",
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        from workflow_builder.api.proxies import parse_networks

        parse_networks(value)  # raises ValueError naming the entry that is not a CIDR
        return value

    @field_validator("egress_allow")
    @classmethod
    def _egress_entries(cls, value: str) -> str:
        from workflow_builder.egress import parse_allow_list

        parse_allow_list(value)  # raises ValueError naming the entry that is not one
        return value

    @property
    def embedded_temporal_db(self) -> Path:
        """Where the bundled Temporal server keeps its state (SQLite)."""
        return self.data_dir / "temporal.db"

    def temporal_web_ui(self) -> str | None:
        """Return the Temporal Web UI's base URL, if the run page can link to one."""
        if self.temporal_ui_url:
            return self.temporal_ui_url.rstrip("/")
        if self.temporal_address is None:
            return f"http://127.0.0.1:{self.temporal_ui_port}"
        return None

    @property
    def embedded_db_dir(self) -> Path:
        """Where the embedded PostgreSQL keeps its data."""
        return self.data_dir / "pgdata"

    def resolved_secret_key(self) -> str:
        """Return the configured secret, or the one generated and kept in the data dir."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        path = self.data_dir / "secret_key"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        value = secrets.token_urlsafe(48)
        path.touch(mode=0o600)
        path.write_text(value)
        return value


@lru_cache
def get_settings() -> Settings:
    """Return the process-wide settings."""
    return Settings()
