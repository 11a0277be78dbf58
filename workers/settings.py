"""Typed settings: ``configs/default.yaml`` < user file (``--config``) < ``MAYDO_*`` environment.

YAML is parsed here and nowhere else. Validation errors name the key and what is allowed.
Nested keys in the environment join with ``__``: ``MAYDO_LIMITS__MAX_IMAGE_PIXELS=1000000``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = REPO_ROOT / "configs"
DEFAULT_CONFIG = CONFIG_DIR / "default.yaml"
ENV_PREFIX = "MAYDO_"
CONFIG_ENV = "MAYDO_CONFIG"  # path of a user config file, same as --config


class SettingsError(ValueError):
    """Settings could not be loaded: names the key, the bad value and what is allowed."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class S3Settings(_Section):
    """An S3-compatible bucket (AWS S3, MinIO, Cloudflare R2, ...). Credentials come from the
    environment variables named here (or boto3's chain: ~/.aws, instance/pod roles), never from
    a settings file."""

    bucket: str | None = None
    endpoint_url: str | None = None  # None = AWS; e.g. http://minio:9000, https://<acct>.r2.cloudflarestorage.com
    region: str | None = None  # AWS region; "auto" for R2
    prefix: str = Field("", pattern=r"^([A-Za-z0-9._\-]+/)*$")  # key prefix, "" or ending in "/"
    public_endpoint_url: str | None = None  # host in presigned URLs when clients see another address
    addressing_style: Literal["auto", "path", "virtual"] = "auto"  # MinIO: path
    access_key_id_env: str = "AWS_ACCESS_KEY_ID"
    secret_access_key_env: str = "AWS_SECRET_ACCESS_KEY"
    session_token_env: str = "AWS_SESSION_TOKEN"
    conditional_writes: bool = True  # If-None-Match: * on PUT (off for servers without it)


class StorageSettings(_Section):
    backend: Literal["local", "s3"] = "local"
    root: Path | None = None  # local backend: the asset directory (default <data_dir>/assets)
    s3: S3Settings = S3Settings()
    cache_dir: Path | None = None  # s3: local copies for jobs (default <data_dir>/cache/assets)
    cache_max_bytes: int = Field(5 * 1024**3, ge=0)
    downloads: Literal["proxy", "redirect"] = "proxy"  # API downloads: stream via the API, or 307 to a presigned URL
    presign_ttl_s: int = Field(300, ge=1, le=7 * 24 * 3600)  # lifetime of the presigned URL a redirect points at

    @model_validator(mode="after")
    def _s3_needs_bucket(self) -> StorageSettings:
        if self.backend == "s3" and not self.s3.bucket:
            raise ValueError("storage.backend is 's3' but storage.s3.bucket is not set (env MAYDO_STORAGE__S3__BUCKET)")
        return self


class JobsSettings(_Section):
    """Where jobs live. ``database_url``: ``sqlite:///path`` (one host) or
    ``postgresql://user:password@host:5432/db`` (several API processes and hosts); unset = SQLite at
    ``db_path`` (default ``<data_dir>/jobs.sqlite3``)."""

    database_url: str | None = None
    db_path: Path | None = None
    pool_size: int = Field(10, ge=1, le=200)  # PostgreSQL connections per process (shared by its threads)

    @field_validator("database_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(DB_URL_SCHEMES):
            raise ValueError(
                f"unsupported database URL {mask_password(value)!r}; allowed: sqlite:///PATH, "
                "postgresql://USER[:PASSWORD]@HOST[:PORT]/DB (postgres:// also)"
            )
        if value.startswith("sqlite://") and not value[len("sqlite:///") :].strip():
            raise ValueError("sqlite URL needs a file path: sqlite:///relative/path or sqlite:////absolute/path")
        return value


DB_URL_SCHEMES = ("sqlite:///", "postgresql://", "postgres://")


def mask_password(url: str) -> str:
    """``scheme://user:***@host/...``: a URL safe to print."""
    head, sep, rest = url.partition("://")
    if "@" in rest:
        cred, _, host = rest.rpartition("@")
        if ":" in cred:
            cred = cred.split(":", 1)[0] + ":***"
        rest = f"{cred}@{host}"
    return head + sep + rest


class LimitsSettings(_Section):
    max_image_pixels: int = Field(40_000_000, gt=0)
    max_upload_bytes: int = Field(50 * 1024 * 1024, gt=0)
    max_script_chars: int = Field(2000, gt=0)
    max_audience_rows: int = Field(100_000, gt=0)
    # Enforced at submit and in the workers (workers/limits.py).
    max_template_seconds: float = Field(180.0, gt=0)
    max_scenes: int = Field(40, gt=0)
    max_layers: int = Field(400, gt=0)
    max_canvas_pixels: int = Field(3840 * 2160, gt=0)
    max_recolor_targets: int = Field(16, gt=0)


class RaySettings(_Section):
    address: str | None = None
    num_cpus: int | None = Field(None, ge=1)
    num_gpus: float | None = Field(None, ge=0)
    # Embedded Ray only (see workers/raynet.py): every Ray socket binds this address.
    node_ip_address: str = "127.0.0.1"
    include_dashboard: bool = False
    dashboard_host: str = "127.0.0.1"


class WebhookSettings(_Section):
    allow_private_targets: bool = False  # SSRF guard: refuse loopback/private/link-local targets
    timeout_s: float = Field(5.0, gt=0, le=60)
    max_attempts: int = Field(20, ge=1, le=100)  # per event; then the event is marked failed
    backoff_s: float = Field(1.0, ge=0)  # first retry delay; doubles per attempt (+ up to 10 % jitter)
    backoff_max_s: float = Field(1800.0, ge=0)  # defaults: 20 attempts over about five hours


class RetentionSettings(_Section):
    """How long campaign outputs live: ``maydo campaign purge`` deletes campaigns older than this."""

    default_days: float | None = Field(None, gt=0)  # None = keep until deleted
    tenants: dict[str, float] = Field(default_factory=dict)  # tenant -> days (overrides default_days)

    def days_for(self, tenant: str) -> float | None:
        """Retention in days for ``tenant`` (None = kept until deleted)."""
        return self.tenants.get(tenant, self.default_days)


class ApiSettings(_Section):
    db_path: Path | None = None  # default: <data_dir>/api.sqlite3 (keys, asset owners, webhooks)
    signing_secret_file: Path | None = None  # default: <data_dir>/api-signing.key, made on first use
    rate_limit_per_minute: int = Field(600, ge=1)
    default_url_ttl_s: int = Field(3600, ge=1)
    max_url_ttl_s: int = Field(7 * 24 * 3600, ge=1)
    metrics_public: bool = True  # /v1/metrics without a key (for Prometheus scrapers)
    webhooks: WebhookSettings = WebhookSettings()
    # Absolute URLs in responses, manifests and webhook bodies start with this (e.g.
    # "https://ads.example.com"); None = the scheme and host the request came in on.
    public_base_url: str | None = Field(None, pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$")
    default_webhook_url: dict[str, str] = Field(default_factory=dict)  # tenant -> URL used when a request names none
    retention: RetentionSettings = RetentionSettings()


class PoolSettings(_Section):
    """One actor pool (workers: see docs/workers.md). Fractional ``num_gpus`` packs actors per GPU."""

    enabled: bool = True
    num_cpus: float = Field(1.0, ge=0)
    num_gpus: float = Field(0.0, ge=0)
    size: int = Field(1, ge=1, le=256)  # actors in the pool
    max_in_flight: int = Field(1, ge=1, le=64)  # concurrent jobs per actor
    timeout_s: float = Field(600.0, gt=0)  # per attempt
    max_attempts: int = Field(3, ge=1, le=20)
    backoff_s: float = Field(1.0, ge=0)  # first retry delay; doubles per attempt
    backoff_max_s: float = Field(60.0, ge=0)
    model_dir: Path | None = None  # local model directory (diffusion); no hub downloads
    revision: str = "1"  # bump to invalidate cached results (part of every job fingerprint)
    options: dict[str, Any] = Field(default_factory=dict)  # engine options passed to the pipeline config
    # Ray custom resources each actor asks for (placement on a cluster): {video_node: 1} puts the
    # pool only on nodes started with `ray start --resources '{"video_node": N}'` (docs/deploy.md)
    resources: dict[str, float] = Field(default_factory=dict)

    @field_validator("resources")
    @classmethod
    def _custom_resources(cls, value: dict[str, float]) -> dict[str, float]:
        for name, amount in value.items():
            if name.upper() in ("CPU", "GPU", "MEMORY", "OBJECT_STORE_MEMORY"):
                raise PydanticCustomError("resource", "'{name}' is not a custom resource: use num_cpus / num_gpus",
                                          {"name": name})
            if not amount > 0:
                raise PydanticCustomError("resource", "resource '{name}' must ask for a positive amount",
                                          {"name": name})
        return value


def _default_pools() -> dict[str, PoolSettings]:
    return {
        "recolor": PoolSettings(num_cpus=0.5, timeout_s=300),
        "recolor_diffusion": PoolSettings(enabled=False, num_cpus=1, num_gpus=1, timeout_s=900),
        "voice": PoolSettings(num_cpus=0.5, timeout_s=300),
        "video": PoolSettings(num_cpus=0.5, timeout_s=1800, max_attempts=2),
        "noop": PoolSettings(enabled=False, num_cpus=0.1, max_in_flight=4, timeout_s=60, backoff_s=0.1),
    }


class DispatcherSettings(_Section):
    """The workers dispatcher (durable queue -> actor pools)."""

    test_kinds: bool = False  # accept the 'noop' job kind (tests, bench/queue.py)
    lease_s: float = Field(15.0, gt=0)  # a dispatcher silent this long is presumed dead
    poll_s: float = Field(0.05, gt=0)  # idle loop period
    cancel_grace_s: float = Field(5.0, ge=0)  # then kill + restart the actor of a canceled job
    ray_namespace: str = "maydo"


class Settings(_Section):
    data_dir: Path = Path("./maydo-data")
    models_dir: Path | None = None  # default: <data_dir>/models (`maydo models install` puts weights there)
    storage: StorageSettings = StorageSettings()
    jobs: JobsSettings = JobsSettings()
    limits: LimitsSettings = LimitsSettings()
    ray: RaySettings = RaySettings()
    api: ApiSettings = ApiSettings()
    pools: dict[str, PoolSettings] = Field(default_factory=_default_pools)
    dispatcher: DispatcherSettings = DispatcherSettings()

    @property
    def assets_dir(self) -> Path:
        """Root of the local asset store."""
        return self.storage.root or self.data_dir / "assets"

    @property
    def models_path(self) -> Path:
        """Directory of installed model files (U²-Net-p for recolor masks)."""
        return self.models_dir or self.data_dir / "models"

    @property
    def asset_cache_dir(self) -> Path:
        """Local cache of a remote (S3) asset store: verified copies that jobs read as files."""
        return self.storage.cache_dir or self.data_dir / "cache" / "assets"

    @property
    def job_db_path(self) -> Path:
        """SQLite job database file (``sqlite:///`` URL, else ``jobs.db_path``, else in the data dir)."""
        url = self.jobs.database_url
        if url and url.startswith("sqlite:///"):
            path = Path(url[len("sqlite:///") :])
            return path if path.is_absolute() else (Path.cwd() / path).resolve()
        return self.jobs.db_path or self.data_dir / "jobs.sqlite3"

    @property
    def job_database_url(self) -> str:
        """The job store's URL: ``jobs.database_url`` or ``sqlite:///<job_db_path>``."""
        url = self.jobs.database_url
        if url and not url.startswith("sqlite:///"):
            return url
        return f"sqlite:///{self.job_db_path}"

    @property
    def job_database_display(self) -> str:
        """The job store's URL with any password masked (for messages and logs)."""
        return mask_password(self.job_database_url)

    @property
    def ray_address(self) -> str | None:
        """Ray cluster address: settings first, then ``RAY_ADDRESS``; None = embedded local Ray."""
        return self.ray.address or os.environ.get("RAY_ADDRESS") or None


def load_settings(
    config_file: str | Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Load settings with precedence default.yaml < config_file < MAYDO_* env < overrides."""
    env = os.environ if env is None else env
    data = _read_yaml(DEFAULT_CONFIG)
    user_file = config_file or env.get(CONFIG_ENV)
    if user_file:
        _deep_merge(data, _read_yaml(Path(user_file)))
    _deep_merge(data, _env_overrides(env))
    if overrides:
        _deep_merge(data, dict(overrides))
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from exc
    if not settings.data_dir.is_absolute():
        settings.data_dir = (Path.cwd() / settings.data_dir).resolve()
    return settings


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise SettingsError(f"config file not found: {path}")
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise SettingsError(f"config file {path} is not valid YAML: {exc}") from exc
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise SettingsError(f"config file {path} must hold a mapping of keys, got {type(loaded).__name__}")
    return loaded


def _env_overrides(env: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, raw in env.items():
        if not key.startswith(ENV_PREFIX) or key == CONFIG_ENV:
            continue
        parts = key[len(ENV_PREFIX) :].lower().split("__")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        # YAML scalar parsing gives ints, floats, bools and null from env strings.
        try:
            value = yaml.safe_load(raw) if raw != "" else None
        except yaml.YAMLError:
            value = raw
        node[parts[-1]] = value
    return out


def _deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _deep_merge(base[key], value)
        else:
            base[key] = value


def _describe(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        env_name = ENV_PREFIX + "__".join(str(p) for p in err["loc"]).upper()
        if err["type"] == "extra_forbidden":
            lines.append(f"unknown setting {key!r} (env {env_name}); check the spelling against configs/default.yaml")
            continue
        if err["type"] == "value_error":  # a field's own check, or a cross-field one naming its keys
            msg = str(err["msg"]).removeprefix("Value error, ")
            lines.append(f"setting {key!r} (env {env_name}): {msg}" if key and key not in msg else msg)
            continue
        allowed = ""
        ctx = err.get("ctx") or {}
        if "expected" in ctx:
            allowed = f"; allowed: {ctx['expected']}"
        shown = err.get("input")
        if isinstance(shown, str) and "://" in shown:
            shown = mask_password(shown)  # never echo a database password
        lines.append(f"setting {key!r} (env {env_name}) = {shown!r}: {err['msg']}{allowed}")
    return "invalid settings:\n  " + "\n  ".join(lines)
