"""The token endpoint's rate limit, and what happens when its cache is gone."""

from __future__ import annotations

import logging

from django.test import override_settings

from tests.accounts.conftest import sign_in

DEAD_CACHE = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
    },
    "sessions": {"BACKEND": "apps.core.cache.SoftRedisCache", "LOCATION": "redis://127.0.0.1:1/0"},
}


@override_settings(TOKEN_THROTTLE_RATE="3/min")
def test_the_token_endpoint_is_throttled_per_address(org, new_ip):
    ip = new_ip()
    for _ in range(3):
        assert sign_in("/api/auth/token/", "gw", ip=ip).status_code == 200
    throttled = sign_in("/api/auth/token/", "gw", ip=ip)
    assert throttled.status_code == 429
    detail = throttled.json()["detail"]
    assert detail.startswith("获取令牌的请求过于频繁，请在 ") and detail.endswith(" 秒后再试。"), (
        detail
    )
    assert 0 < int(throttled["Retry-After"]) <= 60
    # Another address has its own allowance.
    assert sign_in("/api/auth/token/", "gw", ip=new_ip()).status_code == 200


@override_settings(TOKEN_THROTTLE_RATE="1/min", CACHES=DEAD_CACHE)
def test_the_throttle_lets_requests_through_when_the_cache_is_unreachable(org, new_ip, caplog):
    ip = new_ip()
    with caplog.at_level(logging.WARNING, logger="apps.accounts.throttles"):
        for _ in range(3):
            assert sign_in("/api/auth/token/", "gw", ip=ip).status_code == 200
    assert "Token throttle skipped: the cache is unreachable." in caplog.text


@override_settings(TOKEN_THROTTLE_RATE="100/min", CACHES=DEAD_CACHE)
def test_the_lockout_still_protects_the_token_endpoint_without_the_cache(org, new_ip):
    ip = new_ip()
    for _ in range(5):
        sign_in("/api/auth/token/", "gw", "wrong-Pass-1", ip=ip)
    locked = sign_in("/api/auth/token/", "gw", ip=ip)
    assert locked.status_code == 429 and "登录失败次数过多" in locked.json()["detail"]
