"""The API's own SQLite tables: API keys and asset/campaign ownership per tenant.

Webhook subscriptions, their outbox and delivery log live in the job store (shared by every API
process and host; see ``workers.api.notifier``). Older databases may still hold ``webhooks*``
tables from before that; nothing reads them.

Lives in ``<data_dir>/api.sqlite3`` (``api.db_path``), separate from the job database so the API
never writes the runtime's tables. Keys are stored as a SHA-256 hash of their high-entropy secret;
the plain key is returned once, at creation.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from workers.settings import Settings

Role = Literal["creator", "platform", "admin"]
ROLES: tuple[str, ...] = ("creator", "platform", "admin")
TENANT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
KEY_PREFIX = "mdk"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    key_id TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL,
    tenant TEXT NOT NULL,
    role TEXT NOT NULL,
    name TEXT,
    created REAL NOT NULL,
    revoked REAL
);
CREATE TABLE IF NOT EXISTS asset_owners (
    asset_id TEXT NOT NULL,
    tenant TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (asset_id, tenant)
);
CREATE TABLE IF NOT EXISTS campaign_owners (
    campaign_id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS tenant_campaigns (
    internal_id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    campaign_id TEXT NOT NULL,
    created REAL NOT NULL,
    UNIQUE (tenant, campaign_id)
);
CREATE TABLE IF NOT EXISTS object_metadata (
    object_id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    data TEXT NOT NULL,
    created REAL NOT NULL
);
"""


def api_db_path(settings: Settings) -> Path:
    """The API database: ``api.db_path``, by default ``<data_dir>/api.sqlite3``."""
    return settings.api.db_path or settings.data_dir / "api.sqlite3"


class KeyRequestError(ValueError):
    """Bad key-creation input (unknown role, malformed tenant)."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: the tenant and role of a verified API key."""

    key_id: str
    tenant: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@dataclass(frozen=True)
class CreatedKey:
    key_id: str
    key: str  # shown once; only its hash is stored
    tenant: str
    role: str


def hash_secret(secret: str) -> str:
    """SHA-256 of the key's random secret (256 bits of entropy, so no slow KDF is needed)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def parse_key(key: str) -> tuple[str, str] | None:
    """Split ``mdk_<key_id>_<secret>``; None when it is not shaped like a maydo key."""
    parts = key.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


class ApiStore:
    """Thread-safe access to the API tables (one connection per thread, WAL journal)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self._conn() as conn:
            conn.executescript(_SCHEMA)
            cols = {r["name"] for r in conn.execute("PRAGMA table_info(asset_owners)")}
            for col in ("filename", "media_type"):  # per-tenant upload metadata (added later)
                if col not in cols:
                    conn.execute(f"ALTER TABLE asset_owners ADD COLUMN {col} TEXT")

    @contextmanager
    def _conn(self) -> Iterator[sqlite3.Connection]:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.row_factory = sqlite3.Row
            self._local.conn = conn
        yield conn

    # --- keys -------------------------------------------------------------------------------
    def create_key(self, tenant: str, role: str, name: str | None = None) -> CreatedKey:
        """Create a key for ``tenant`` with ``role``; the returned plain key is never stored."""
        if role not in ROLES:
            raise KeyRequestError(f"unknown role {role!r}; allowed: {', '.join(ROLES)}")
        if not TENANT_RE.match(tenant):
            raise KeyRequestError(
                f"invalid tenant {tenant!r}; use 1-64 letters, digits, '_', '.', '-' starting with a letter/digit"
            )
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        with self._conn() as conn:
            conn.execute(
                "INSERT INTO api_keys (key_id, secret_hash, tenant, role, name, created) VALUES (?,?,?,?,?,?)",
                (key_id, hash_secret(secret), tenant, role, name, time.time()),
            )
        return CreatedKey(key_id=key_id, key=f"{KEY_PREFIX}_{key_id}_{secret}", tenant=tenant, role=role)

    def verify_key(self, key: str) -> Principal | None:
        """The principal for a presented key, or None (unknown, revoked or wrong secret)."""
        parsed = parse_key(key)
        if parsed is None:
            return None
        key_id, secret = parsed
        with self._conn() as conn:
            row = conn.execute(
                "SELECT secret_hash, tenant, role, revoked FROM api_keys WHERE key_id = ?", (key_id,)
            ).fetchone()
        if row is None or row["revoked"] is not None:
            return None
        if not hmac.compare_digest(row["secret_hash"], hash_secret(secret)):
            return None
        return Principal(key_id=key_id, tenant=row["tenant"], role=row["role"])

    def revoke_key(self, key_id: str) -> bool:
        with self._conn() as conn:
            cur = conn.execute(
                "UPDATE api_keys SET revoked = ? WHERE key_id = ? AND revoked IS NULL", (time.time(), key_id)
            )
        return cur.rowcount > 0

    def list_keys(self, tenant: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT key_id, tenant, role, name, created, revoked FROM api_keys"
        args: tuple[Any, ...] = ()
        if tenant:
            sql += " WHERE tenant = ?"
            args = (tenant,)
        with self._conn() as conn:
            return [dict(r) for r in conn.execute(sql + " ORDER BY created", args)]

    # --- ownership --------------------------------------------------------------------------
    def add_asset_owner(self, asset_id: str, tenant: str, filename: str | None = None,
                        media_type: str | None = None) -> None:
        """Record that ``tenant`` uploaded ``asset_id``, with ITS filename and media type: the
        same bytes uploaded by two tenants are stored once, but each sees only its own metadata."""
        with self._conn() as conn:
            conn.execute(
                "INSERT INTO asset_owners (asset_id, tenant, created, filename, media_type) VALUES (?,?,?,?,?)"
                " ON CONFLICT (asset_id, tenant) DO UPDATE SET"
                " filename = COALESCE(excluded.filename, filename),"
                " media_type = COALESCE(excluded.media_type, media_type)",
                (asset_id, tenant, time.time(), filename, media_type),
            )

    def uploaded_by_anyone(self, asset_id: str) -> bool:
        with self._conn() as conn:
            row = conn.execute("SELECT 1 FROM asset_owners WHERE asset_id = ? LIMIT 1", (asset_id,)).fetchone()
        return row is not None

    def upload_meta(self, asset_id: str, tenant: str) -> tuple[str | None, str | None] | None:
        """``(filename, media_type)`` as ``tenant`` uploaded the asset; None if it did not."""
        with self._conn() as conn:
            row = conn.execute(
                "SELECT filename, media_type FROM asset_owners WHERE asset_id = ? AND tenant = ?", (asset_id, tenant)
            ).fetchone()
        return None if row is None else (row["filename"], row["media_type"])

    def add_asset_owners(self, asset_ids: Iterable[str], tenant: str) -> None:
        now = time.time()
        rows = [(a, tenant, now) for a in asset_ids if a]
        if rows:
            with self._conn() as conn:
                conn.executemany(
                    "INSERT OR IGNORE INTO asset_owners (asset_id, tenant, created) VALUES (?,?,?)", rows
                )

    def owns_asset(self, asset_id: str, tenant: str) -> bool:
        with self._conn() as conn:
            row = conn.execute(
                "SELECT 1 FROM asset_owners WHERE asset_id = ? AND tenant = ?", (asset_id, tenant)
            ).fetchone()
        return row is not None

    # Campaign ids are per tenant: (tenant, campaign_id) -> internal id (job store, folders).
    def claim_campaign(self, tenant: str, campaign_id: str, internal_id: str) -> bool:
        """Create the tenant's campaign; False when it already exists (the unique key decides:
        of concurrent creators exactly one wins)."""
        with self._conn() as conn:
            try:
                conn.execute(
                    "INSERT INTO tenant_campaigns (internal_id, tenant, campaign_id, created) VALUES (?,?,?,?)",
                    (internal_id, tenant, campaign_id, time.time()),
                )
            except sqlite3.IntegrityError:
                return False
        return True

    def release_campaign(self, internal_id: str) -> None:
        """Forget a claim whose start failed (the id can be used again)."""
        with self._conn() as conn:
            conn.execute("DELETE FROM tenant_campaigns WHERE internal_id = ?", (internal_id,))

    def tenant_campaign(self, tenant: str, campaign_id: str) -> str | None:
        """The internal id of ``tenant``'s campaign ``campaign_id``, or None."""
        with self._conn() as conn:
            row = conn.execute(
                "SELECT internal_id FROM tenant_campaigns WHERE tenant = ? AND campaign_id = ?", (tenant, campaign_id)
            ).fetchone()
        return None if row is None else str(row["internal_id"])

    def campaign_by_internal(self, internal_id: str) -> tuple[str, str] | None:
        """``(tenant, campaign_id)`` of an internal campaign id, or None."""
        with self._conn() as conn:
            row = conn.execute(
                "SELECT tenant, campaign_id FROM tenant_campaigns WHERE internal_id = ?", (internal_id,)
            ).fetchone()
        return None if row is None else (str(row["tenant"]), str(row["campaign_id"]))

    def public_campaign_id(self, internal_id: str) -> str:
        """The campaign id as its tenant wrote it; ``internal_id`` itself for a campaign the API did
        not create (jobs submitted with a campaign id by the CLI or the runtime)."""
        known = self.campaign_by_internal(internal_id)
        return internal_id if known is None else known[1]

    def campaign_tenant(self, campaign_id: str) -> str | None:
        with self._conn() as conn:
            row = conn.execute(
                "SELECT tenant FROM campaign_owners WHERE campaign_id = ?", (campaign_id,)
            ).fetchone()
        return None if row is None else str(row["tenant"])

    def campaigns(self, tenant: str | None, *, created_after: float | None = None,
                  created_before: float | None = None, before: tuple[float, str] | None = None,
                  limit: int = 100) -> list[dict[str, Any]]:
        """API campaigns (internal_id, tenant, campaign_id, created), newest first; ``tenant`` None =
        every tenant; ``before``: keyset cursor ``(created, internal_id)`` of the previous page's last row."""
        where: list[str] = []
        args: list[Any] = []
        if tenant is not None:
            where.append("tenant = ?")
            args.append(tenant)
        if created_after is not None:
            where.append("created >= ?")
            args.append(created_after)
        if created_before is not None:
            where.append("created < ?")
            args.append(created_before)
        if before is not None:
            where.append("(created < ? OR (created = ? AND internal_id < ?))")
            args.extend([before[0], before[0], before[1]])
        sql = "SELECT internal_id, tenant, campaign_id, created FROM tenant_campaigns"
        sql += (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY created DESC, internal_id DESC LIMIT ?"
        args.append(int(limit))
        with self._conn() as conn:
            return [dict(r) for r in conn.execute(sql, args)]

    def forget_campaign(self, internal_id: str, asset_ids: Iterable[str] = ()) -> None:
        """Remove a campaign's id claim, owner row, webhook, metadata and the given assets' ownership rows."""
        ids = list(asset_ids)
        with self._conn() as conn:
            conn.execute("DELETE FROM tenant_campaigns WHERE internal_id = ?", (internal_id,))
            conn.execute("DELETE FROM campaign_owners WHERE campaign_id = ?", (internal_id,))
            conn.execute("DELETE FROM object_metadata WHERE object_id = ?", (internal_id,))
            conn.executemany("DELETE FROM asset_owners WHERE asset_id = ?", [(a,) for a in ids])

    # --- caller metadata (passed back in replies and webhook bodies) -------------------------
    def set_metadata(self, object_id: str, tenant: str, data: dict[str, Any]) -> None:
        with self._conn() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO object_metadata (object_id, tenant, data, created) VALUES (?,?,?,?)",
                (object_id, tenant, json.dumps(data, ensure_ascii=False), time.time()),
            )

    def metadata(self, object_id: str) -> dict[str, Any] | None:
        with self._conn() as conn:
            row = conn.execute("SELECT data FROM object_metadata WHERE object_id = ?", (object_id,)).fetchone()
        if row is None:
            return None
        data = json.loads(row["data"])
        return data if isinstance(data, dict) else None

