"""The /api rate limit: per-client token buckets, 429 with Retry-After, bounded memory, off at 0."""

from __future__ import annotations

import threading

import pytest
from fakes import FakeKB
from fakes import assert_api_error
from fakes import make_test_app

from kb.settings import DEFAULTS
from webapp import CONTENT_SECURITY_POLICY
from webapp.ratelimit import EXTENSION
from webapp.ratelimit import RateLimiter


class Clock:
    """A hand-wound monotonic clock."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_a_burst_then_refills_over_the_minute():
    clock = Clock()
    limiter = RateLimiter(6, clock=clock)  # one token every 10 s
    assert [limiter.take("a") for _ in range(6)] == [0.0] * 6
    assert limiter.take("a") == pytest.approx(10.0)
    assert limiter.blocked("a") == pytest.approx(10.0)
    clock.now += 5
    assert limiter.take("a") == pytest.approx(5.0)  # a refused request spends nothing
    clock.now += 5
    assert limiter.blocked("a") == 0.0 and limiter.take("a") == 0.0
    assert limiter.take("a") > 0
    clock.now += 600  # long idle: a full burst again, never more
    assert [limiter.take("a") for _ in range(7)].count(0.0) == 6


def test_buckets_are_per_client_and_blocked_spends_nothing():
    limiter = RateLimiter(2, clock=Clock())
    assert limiter.blocked("a") == 0.0 and limiter.blocked("a") == 0.0
    assert [limiter.take("a") for _ in range(3)][:2] == [0.0, 0.0]
    assert limiter.take("a") > 0 and limiter.take("b") == 0.0


def test_zero_means_no_limit():
    limiter = RateLimiter(0, clock=Clock())
    assert all(limiter.take("a") == 0.0 for _ in range(1000))
    assert len(limiter) == 0


def test_idle_clients_are_forgotten_and_memory_is_capped():
    clock = Clock()
    limiter = RateLimiter(60, max_clients=100, clock=clock)
    for i in range(50):
        limiter.take(f"10.0.0.{i}")
    assert len(limiter) == 50
    clock.now += 61  # every bucket is full again: the same as no bucket
    limiter.take("10.0.1.1")
    assert len(limiter) == 1
    for i in range(1000):
        limiter.take(f"10.1.{i // 256}.{i % 256}")
    assert len(limiter) == 100


def test_concurrent_takes_never_overspend():
    limiter = RateLimiter(100, clock=Clock())  # the clock stands still: no refill during the test
    allowed: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        ok = sum(1 for _ in range(50) if limiter.take("one-client") == 0.0)
        with lock:
            allowed.append(ok)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(allowed) == 100


# -- in the app --------------------------------------------------------------------------------------------------------
def _get(client, path: str, ip: str = "10.9.8.7"):
    return client.get(path, environ_base={"REMOTE_ADDR": ip})


def test_burst_over_the_limit_gets_429_with_retry_after():
    client = make_test_app(FakeKB(), API_RATE_LIMIT=5).test_client()
    statuses = [_get(client, "/api/search?q=irql").status_code for _ in range(8)]
    assert statuses == [200] * 5 + [429] * 3
    limited = _get(client, "/api/topics")  # every /api endpoint shares the client's bucket
    body = assert_api_error(limited, 429)
    assert "too many requests" in body["error"].lower() and "5 per minute" in body["error"]
    assert int(limited.headers["Retry-After"]) == 12  # 60 s / 5 per minute
    assert limited.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert _get(client, "/api/search?q=irql", ip="10.9.8.6").status_code == 200  # the bucket is per client
    for path in ("/", "/?q=irql", "/samples", "/topics"):
        assert _get(client, path).status_code == 200  # HTML pages are not limited
    assert _get(client, "/api/nope").status_code == 429  # counted before routing: probing costs tokens too


def test_limit_zero_turns_it_off():
    client = make_test_app(FakeKB(), API_RATE_LIMIT=0).test_client()
    assert all(_get(client, "/api/topics").status_code == 200 for _ in range(300))


def test_default_limit_comes_from_the_settings_table():
    app = make_test_app(FakeKB())
    assert app.extensions[EXTENSION].per_minute == DEFAULTS["API_RATE_LIMIT"] == 120


def test_each_app_has_its_own_buckets():
    first = make_test_app(FakeKB(), API_RATE_LIMIT=1).test_client()
    second = make_test_app(FakeKB(), API_RATE_LIMIT=1).test_client()
    assert _get(first, "/api/topics").status_code == 200 and _get(first, "/api/topics").status_code == 429
    assert _get(second, "/api/topics").status_code == 200


def test_a_bad_limit_setting_names_the_fix():
    with pytest.raises(ValueError, match="KB_API_RATE_LIMIT"):
        make_test_app(FakeKB(), API_RATE_LIMIT="lots")
