"""API authentication: DRF's token scheme, with the caller's profile read in the same query."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token


class ProfileTokenAuthentication(TokenAuthentication):
    """``Authorization: Token <key>``, exactly as DRF's TokenAuthentication answers it, except
    that the token, its user and the user's profile (with its region and unit) come back in one
    query. Every API request starts by working out the caller's scope from that profile
    (``apps.org.scope``); on the phones' busiest call, the report, it was a query of its own."""

    def authenticate_credentials(self, key):
        try:
            token = Token.objects.select_related("user__profile__region", "user__profile__unit").get(key=key)
        except Token.DoesNotExist:
            raise exceptions.AuthenticationFailed(_("Invalid token.")) from None
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        return token.user, token
