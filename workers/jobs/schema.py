"""DDL of the job store and its one migration, per dialect.

One schema text serves both dialects; ``{real}``, ``{serial}`` and ``{without_rowid}`` are the
column types and table options that differ. Every statement is ``IF NOT EXISTS``: opening a store
creates what is missing and leaves existing tables alone.
"""

from __future__ import annotations

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    lane TEXT NOT NULL,
    lane_rank INTEGER NOT NULL,
    priority INTEGER NOT NULL DEFAULT 0,
    tenant TEXT NOT NULL DEFAULT 'default',
    campaign_id TEXT,
    idempotency_key TEXT,
    params TEXT NOT NULL,
    inputs TEXT NOT NULL,
    outputs TEXT NOT NULL DEFAULT '{{}}',
    result TEXT NOT NULL DEFAULT '{{}}',
    fingerprint TEXT NOT NULL,
    cache_hit INTEGER NOT NULL DEFAULT 0,
    cached_from TEXT,
    depends_on TEXT NOT NULL DEFAULT '[]',
    pool TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    fence INTEGER NOT NULL DEFAULT 0,
    timeout_s {real} NOT NULL,
    not_before {real} NOT NULL DEFAULT 0,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    error_class TEXT,
    error_message TEXT,
    error_traceback TEXT,
    error_field TEXT,
    owner TEXT,
    created_at {real} NOT NULL,
    updated_at {real} NOT NULL,
    started_at {real},
    finished_at {real}
);
CREATE UNIQUE INDEX IF NOT EXISTS jobs_idem ON jobs(tenant, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS jobs_claim ON jobs(pool, status, lane_rank, priority DESC, created_at);
CREATE INDEX IF NOT EXISTS jobs_runnable ON jobs(pool, lane_rank, priority DESC, created_at, id)
    WHERE status IN ('queued','retrying');
CREATE INDEX IF NOT EXISTS jobs_fp ON jobs(fingerprint, status);
CREATE INDEX IF NOT EXISTS jobs_campaign ON jobs(campaign_id);
CREATE INDEX IF NOT EXISTS jobs_created ON jobs(created_at);
CREATE TABLE IF NOT EXISTS job_deps (
    job_id TEXT NOT NULL,
    dep_id TEXT NOT NULL,
    PRIMARY KEY (job_id, dep_id)
);
CREATE INDEX IF NOT EXISTS job_deps_dep ON job_deps(dep_id);
CREATE TABLE IF NOT EXISTS events (
    id {serial},
    job_id TEXT NOT NULL,
    stage TEXT NOT NULL,
    fraction {real} NOT NULL,
    message TEXT NOT NULL DEFAULT '',
    ts {real} NOT NULL
);
CREATE INDEX IF NOT EXISTS events_job ON events(job_id, id);
CREATE TABLE IF NOT EXISTS attempts (
    job_id TEXT NOT NULL,
    number INTEGER NOT NULL,
    fence INTEGER NOT NULL,
    started_at {real} NOT NULL,
    ended_at {real},
    outcome TEXT,
    error_class TEXT,
    error_message TEXT,
    worker TEXT,
    PRIMARY KEY (job_id, number)
);
CREATE TABLE IF NOT EXISTS pools (
    name TEXT PRIMARY KEY,
    healthy INTEGER NOT NULL,
    error TEXT,
    actors INTEGER NOT NULL,
    size INTEGER NOT NULL,
    in_flight INTEGER NOT NULL,
    updated_at {real} NOT NULL
);
CREATE TABLE IF NOT EXISTS ad_reviews (
    id {serial},
    campaign_id TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    job_id TEXT,
    state TEXT NOT NULL,
    comment TEXT NOT NULL DEFAULT '',
    reviewer TEXT NOT NULL DEFAULT '',
    ts {real} NOT NULL
);
CREATE INDEX IF NOT EXISTS ad_reviews_campaign ON ad_reviews(campaign_id, customer_id, id);
CREATE TABLE IF NOT EXISTS dispatcher_lease (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    owner TEXT NOT NULL,
    host TEXT NOT NULL,
    boot_id TEXT,
    pid INTEGER NOT NULL,
    pid_start TEXT,
    backend_pid INTEGER,
    acquired_at {real} NOT NULL,
    heartbeat_at {real} NOT NULL
);
CREATE TABLE IF NOT EXISTS webhooks (
    object_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    tenant TEXT NOT NULL,
    url TEXT NOT NULL,
    created {real} NOT NULL,
    done INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS webhooks_pending ON webhooks(done, created);
CREATE TABLE IF NOT EXISTS webhook_outbox (
    id TEXT PRIMARY KEY,
    object_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    tenant TEXT NOT NULL,
    event TEXT NOT NULL,
    url TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at {real} NOT NULL,
    claimed_by TEXT,
    claimed_until {real},
    created_at {real} NOT NULL,
    delivered_at {real},
    last_status INTEGER,
    last_error TEXT,
    UNIQUE (object_id, event)
);
CREATE INDEX IF NOT EXISTS webhook_outbox_due ON webhook_outbox(status, next_at);
CREATE TABLE IF NOT EXISTS webhook_attempts (
    id {serial},
    delivery_id TEXT NOT NULL,
    object_id TEXT NOT NULL,
    event TEXT NOT NULL,
    url TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    status_code INTEGER,
    ok INTEGER NOT NULL,
    error TEXT,
    ts {real} NOT NULL,
    duration_ms {real} NOT NULL
);
CREATE INDEX IF NOT EXISTS webhook_attempts_object ON webhook_attempts(object_id, id);
CREATE TABLE IF NOT EXISTS job_assets (
    asset_id TEXT NOT NULL,
    tenant TEXT NOT NULL,
    job_id TEXT NOT NULL,
    PRIMARY KEY (asset_id, tenant, job_id)
){without_rowid};
"""

# SQLite databases made before ``job_assets`` existed: index their jobs once, on first open.
ASSET_BACKFILL = """
INSERT OR IGNORE INTO job_assets(asset_id, tenant, job_id)
    SELECT j.value, jobs.tenant, jobs.id FROM jobs, json_each(jobs.inputs) AS j WHERE j.type = 'text'
    UNION SELECT o.value, jobs.tenant, jobs.id FROM jobs, json_each(jobs.outputs) AS o WHERE o.type = 'text';
"""

SQLITE_DDL = SCHEMA.format(real="REAL", serial="INTEGER PRIMARY KEY AUTOINCREMENT", without_rowid=" WITHOUT ROWID")
POSTGRES_DDL = SCHEMA.format(real="DOUBLE PRECISION", serial="BIGSERIAL PRIMARY KEY", without_rowid="")
