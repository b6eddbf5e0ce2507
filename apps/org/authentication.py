"""API authentication: DRF's token scheme, answered from this process's copy of the caller."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from apps.org import credentials


class ProfileTokenAuthentication(TokenAuthentication):
    """``Authorization: Token <key>``, answered exactly as DRF's TokenAuthentication answers it
    (an unknown token or an inactive user is refused with DRF's messages), except that the token, its user,
    the user's profile with region and unit, and the grids they cover come from
    ``apps.org.credentials`` — a per-process copy that every change to those rows drops — so
    the phones' busiest call, the report, does not start with two queries."""

    def authenticate_credentials(self, key):
        found = credentials.token_user(key)
        if found is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        user, token = found
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        return user, token
