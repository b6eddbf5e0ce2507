from __future__ import annotations

import itertools

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from tests.factories import PASSWORD

_addresses = itertools.count(1)
LOGIN_PATHS = ["/accounts/login/", "/admin/login/", "/field/login/", "/api/auth/token/"]


@pytest.fixture
def new_ip():
    """``new_ip()``: a client address no other test used, so neither the lockout rows (rolled
    back anyway) nor the token throttle's counts (kept in Redis for a minute) carry over; the
    throttle counts of the addresses handed out are dropped afterwards."""
    handed_out: list[str] = []

    def make() -> str:
        n = next(_addresses)
        address = f"10.77.{n // 250}.{n % 250 + 1}"
        handed_out.append(address)
        return address

    yield make
    cache.delete_many([f"throttle_auth-token_{address}" for address in handed_out])


def sign_in(path: str, username: str, password: str = PASSWORD, *, ip: str, client=None):
    """One sign-in attempt through a login path, as a browser or a phone sends it."""
    client = client or APIClient()
    if path.startswith("/api/"):
        return client.post(
            path, {"username": username, "password": password}, format="json", REMOTE_ADDR=ip
        )
    return client.post(path, {"username": username, "password": password}, REMOTE_ADDR=ip)


def signed_in(path: str, response) -> bool:
    if path.startswith("/api/"):
        return response.status_code == 200 and "token" in response.json()
    return response.status_code == 302
