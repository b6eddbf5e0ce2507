"""The lockout check in front of Django's ModelBackend (settings.AUTHENTICATION_BACKENDS)."""

from __future__ import annotations

from axes.backends import AxesStandaloneBackend


class LockoutBackend(AxesStandaloneBackend):
    """Axes' check that refuses a locked-out username or address, for sign-ins that come from a
    request — every login path of ours passes it (tests/accounts covers all four).

    ``authenticate()`` without a request is not a sign-in from the network: Django's test
    client ``login()``, a shell, a management command. Axes would raise for it; there is no
    address to count, so it is let through to the next backend, which checks the password."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
