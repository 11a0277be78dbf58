"""Per-app state: settings, stores, the runtime handle, the rate limiter and the auth dependencies."""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from workers.api.errors import ApiError
from workers.api.ratelimit import RateLimiter
from workers.api.signing import load_signing_secret
from workers.api.store import ApiStore, Principal, api_db_path
from workers.settings import Settings
from workers.storage import AssetStore, open_store

_KEY_CACHE_S = 5.0  # a revoked key stops working within this many seconds


class ApiContext:
    """Everything the routes share; one per app."""

    def __init__(self, settings: Settings, runtime: Any | None = None) -> None:
        self.settings = settings
        self.store = ApiStore(api_db_path(settings))
        self.assets: AssetStore = open_store(settings)
        self.secret = load_signing_secret(settings)
        self.limiter = RateLimiter(settings.api.rate_limit_per_minute)
        self._runtime = runtime
        self._runtime_lock = threading.Lock()
        self._key_cache: dict[str, tuple[Principal | None, float]] = {}
        self.started = time.time()

    @property
    def runtime(self) -> Any:
        """The job runtime (``workers.runtime.Runtime``), created on first use when not injected."""
        if self._runtime is None:
            with self._runtime_lock:
                if self._runtime is None:
                    from workers.runtime import Runtime

                    self._runtime = Runtime(self.settings)
        return self._runtime

    def owns_asset(self, asset_id: str, tenant: str) -> bool:
        """``tenant`` uploaded the asset, or one of its jobs (API, CLI or campaign runner) has it
        as an input or output (the job store's indexed ``job_assets``)."""
        if self.store.owns_asset(asset_id, tenant):
            return True
        return tenant in self.runtime.store.tenants_for_asset(asset_id)

    def cached_principal(self, key: str) -> tuple[bool, Principal | None]:
        """``(hit, principal)`` from the key cache, without touching the database."""
        hit = self._key_cache.get(key)
        if hit is not None and hit[1] > time.monotonic():
            return True, hit[0]
        return False, None

    def verify(self, key: str) -> Principal | None:
        now = time.monotonic()
        hit = self._key_cache.get(key)
        if hit is not None and hit[1] > now:
            return hit[0]
        principal = self.store.verify_key(key)
        if len(self._key_cache) > 10_000:
            self._key_cache.clear()
        self._key_cache[key] = (principal, now + _KEY_CACHE_S)
        return principal


def ctx_of(request: Request) -> ApiContext:
    ctx = request.app.state.ctx
    assert isinstance(ctx, ApiContext)
    return ctx


_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="maydo API key (mdk_...)")
_bearer = HTTPBearer(auto_error=False, description="maydo API key as a bearer token")


def _presented_key(api_key: str | None, bearer: HTTPAuthorizationCredentials | None) -> str:
    key = api_key or (bearer.credentials if bearer is not None else None)
    if not key:
        raise ApiError(401, "missing API key: send 'X-API-Key: mdk_...' or 'Authorization: Bearer mdk_...'",
                       headers={"WWW-Authenticate": "Bearer"})
    return key


def _admit(request: Request, ctx: ApiContext, principal: Principal | None) -> Principal:
    if principal is None:
        raise ApiError(401, "invalid or revoked API key", headers={"WWW-Authenticate": "Bearer"})
    wait = ctx.limiter.hit(principal.key_id)
    if wait > 0:
        raise ApiError(
            429,
            f"rate limit of {ctx.settings.api.rate_limit_per_minute} requests per minute exceeded",
            headers={"Retry-After": RateLimiter.retry_after(wait)},
        )
    request.state.principal = principal
    return principal


def authenticate(
    request: Request,
    api_key: str | None = Depends(_api_key_header),
    bearer: HTTPAuthorizationCredentials | None = Depends(_bearer),
) -> Principal:
    """401 without a valid key; 429 (with Retry-After) past the per-key rate limit. Blocking on a
    key-cache miss (one SQLite read + one SHA-256): call from a worker thread."""
    ctx = ctx_of(request)
    return _admit(request, ctx, ctx.verify(_presented_key(api_key, bearer)))


async def authenticate_async(
    request: Request,
    api_key: str | None = Depends(_api_key_header),
    bearer: HTTPAuthorizationCredentials | None = Depends(_bearer),
) -> Principal:
    """``authenticate`` for the event loop: a cached key costs no thread hop; a miss verifies in a thread."""
    ctx = ctx_of(request)
    key = _presented_key(api_key, bearer)
    hit, principal = ctx.cached_principal(key)
    if not hit:
        principal = await anyio.to_thread.run_sync(ctx.verify, key)
    return _admit(request, ctx, principal)


def require(*roles: str) -> Callable[..., Awaitable[Principal]]:
    """Dependency: an authenticated principal whose role is one of ``roles`` (admin always passes)."""
    allowed = set(roles) | {"admin"}

    async def _dep(principal: Principal = Depends(authenticate_async)) -> Principal:
        if principal.role not in allowed:
            raise ApiError(403, f"role {principal.role!r} may not do this; needs one of: {', '.join(sorted(allowed))}")
        return principal

    return _dep


def can_see(principal: Principal, tenant: str | None) -> bool:
    """Tenant isolation: admins see every tenant, everyone else only their own."""
    return principal.is_admin or (tenant is not None and tenant == principal.tenant)
