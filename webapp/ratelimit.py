"""Per-client token buckets: ``API_RATE_LIMIT`` requests per minute on /api/*, a 429 with Retry-After beyond."""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint
from flask import Flask
from flask import current_app
from flask import jsonify
from flask import request

bp = Blueprint("ratelimit", __name__)

API_PREFIX = "/api/"
MAX_CLIENTS = 10_000  # buckets kept at most; beyond that the least recently seen client is forgotten
EXTENSION = "api_rate_limiter"


@dataclass
class _Bucket:
    tokens: float
    seen: float


class RateLimiter:
    """Token buckets keyed by client: ``per_minute`` tokens, refilled continuously, a burst of ``per_minute``.

    Thread-safe. Memory is bounded: a bucket idle for a minute is full again, so it is dropped (a new
    one starts full: the same thing), and at most ``max_clients`` buckets are kept.
    """

    def __init__(self, per_minute: int, max_clients: int = MAX_CLIENTS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0  # tokens per second
        self.max_clients = max_clients
        self.clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, client: str) -> float:
        """Spend one token of ``client``'s bucket.

        Args:
            client: the key (the remote address).

        Returns:
            0.0 when the request may go ahead, else the seconds until a token is available.
        """
        if self.per_minute <= 0:
            return 0.0
        now = self.clock()
        with self._lock:
            self._evict(now)
            bucket = self._buckets.pop(client, None)
            if bucket is None:
                bucket = _Bucket(self.capacity, now)
            else:
                bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.seen) * self.rate)
                bucket.seen = now
            self._buckets[client] = bucket  # most recently seen last
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / self.rate

    def blocked(self, client: str) -> float:
        """Seconds until ``client`` has a token again, without spending one (0.0: it has one now)."""
        if self.per_minute <= 0:
            return 0.0
        now = self.clock()
        with self._lock:
            bucket = self._buckets.get(client)
            if bucket is None:
                return 0.0
            tokens = min(self.capacity, bucket.tokens + (now - bucket.seen) * self.rate)
            return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate

    def _evict(self, now: float) -> None:
        full_after = self.capacity / self.rate  # seconds for an empty bucket to refill
        while self._buckets:
            key, oldest = next(iter(self._buckets.items()))
            if now - oldest.seen < full_after and len(self._buckets) < self.max_clients:
                break
            del self._buckets[key]


@bp.record_once
def _install(state: Any) -> None:
    app: Flask = state.app
    try:
        per_minute = int(app.config.get("API_RATE_LIMIT") or 0)
    except (TypeError, ValueError):
        raise ValueError(f"API_RATE_LIMIT={app.config.get('API_RATE_LIMIT')!r} is not a whole number: "
                         "set KB_API_RATE_LIMIT to requests per minute, or 0 for no limit") from None
    app.extensions[EXTENSION] = RateLimiter(per_minute)


def client_key() -> str:
    """Who is asking: the remote address (behind a reverse proxy, configure werkzeug's ProxyFix first)."""
    return request.remote_addr or "unknown"


@bp.before_app_request
def limit_api() -> Any:
    """Answer 429 (the JSON error shape, with Retry-After) when this client's /api bucket is empty."""
    if not (request.path == API_PREFIX.rstrip("/") or request.path.startswith(API_PREFIX)):
        return None
    limiter: RateLimiter | None = current_app.extensions.get(EXTENSION)
    if limiter is None:
        return None
    wait = limiter.take(client_key())
    if wait <= 0:
        return None
    retry_after = max(1, math.ceil(wait))
    message = (f"Too many requests: this API allows {limiter.per_minute} per minute per client. "
               f"Slow down and retry after {retry_after} s.")
    response = jsonify({"ok": False, "error": message, "status": 429})
    response.status_code = 429
    response.headers["Retry-After"] = str(retry_after)
    return response
