"""Small thread-safe state the bot keeps in memory: seen deliveries, per-workspace rate limits, thread context."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import ThreadPoolExecutor
from typing import Any


class SeenKeys:
    """Remembers delivery keys (event ids, trigger ids) for ``ttl`` seconds, at most ``max_keys`` of them.

    Slack retries an event up to three times within about five minutes, so an hour is plenty; the bound keeps
    memory flat under a flood of events.
    """

    def __init__(self, max_keys: int = 10_000, ttl: float = 3600.0, clock: Callable[[], float] = time.monotonic):
        self._keys: OrderedDict[str, float] = OrderedDict()
        self._max = max_keys
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()

    def check_and_add(self, key: str) -> bool:
        """Record ``key``.

        Returns:
            True when the key was already recorded (a duplicate delivery), False the first time.
        """
        now = self._clock()
        with self._lock:
            while self._keys and next(iter(self._keys.values())) < now - self._ttl:
                self._keys.popitem(last=False)
            if key in self._keys:
                return True
            self._keys[key] = now
            if len(self._keys) > self._max:
                self._keys.popitem(last=False)
            return False


class RateLimiter:
    """A token bucket per key (workspace): ``per_minute`` questions, refilled continuously, bursts up to that."""

    def __init__(self, per_minute: int, max_keys: int = 1000, clock: Callable[[], float] = time.monotonic):
        self.per_minute = per_minute
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, last refill)
        self._max = max_keys
        self._clock = clock
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        """Take one token for ``key``.

        Returns:
            True if the question may be answered now, False if the workspace should slow down.
        """
        if self.per_minute <= 0:  # 0 turns the limit off
            return True
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.pop(key, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - last) * self.per_minute / 60.0)
            allowed = tokens >= 1.0
            if allowed:
                tokens -= 1.0
            self._buckets[key] = (tokens, now)
            if len(self._buckets) > self._max:
                self._buckets.popitem(last=False)
            return allowed


class ThreadMemory:
    """The last question asked in each thread the bot answered: (channel, thread_ts) -> text, bounded LRU."""

    def __init__(self, max_threads: int = 2000):
        self._items: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._max = max_threads
        self._lock = threading.Lock()

    def remember(self, channel: str, thread_ts: str, question: str) -> None:
        """Store the question just answered in this thread (the newest wins)."""
        with self._lock:
            self._items.pop((channel, thread_ts), None)
            self._items[(channel, thread_ts)] = question
            if len(self._items) > self._max:
                self._items.popitem(last=False)

    def get(self, channel: str, thread_ts: str) -> str | None:
        """The previous question in this thread, or None if the bot has not answered there (or forgot it)."""
        with self._lock:
            question = self._items.get((channel, thread_ts))
            if question is not None:
                self._items.move_to_end((channel, thread_ts))
            return question


class TrackingExecutor(ThreadPoolExecutor):
    """A thread pool that knows when it has no work left, so tests can wait for the bot instead of sleeping."""

    def __init__(self, max_workers: int = 8, thread_name_prefix: str = "slack-bot"):
        super().__init__(max_workers=max_workers, thread_name_prefix=thread_name_prefix)
        self._pending = 0
        self._idle = threading.Condition()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        """Schedule ``fn`` and count it until it finishes."""
        with self._idle:
            self._pending += 1
        try:
            future = super().submit(fn, *args, **kwargs)
        except BaseException:
            self._done(None)
            raise
        future.add_done_callback(self._done)
        return future

    def _done(self, _future: Future[Any] | None) -> None:
        with self._idle:
            self._pending -= 1
            self._idle.notify_all()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until every submitted task (acks and lazy listeners, including ones they start) has finished.

        Returns:
            True when idle, False if ``timeout`` seconds passed first.
        """
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout=timeout)
