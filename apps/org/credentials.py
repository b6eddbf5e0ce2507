"""Who is calling: a per-process copy of API tokens and of each caller's profile and scope.

Every API request starts by reading the caller's token and user (or the session's user), the
profile with its region and unit, and the grids they cover — up to three queries and a good
part of a report's cost on a busy intake — and these rows change a few times a week, in the
admin. So each process keeps a copy (tokens by key, profiles and scopes by user id), checked on
every use against a version shared through the database (``apps.core.versions``):

- saving or deleting a token, user, profile, region, unit or grid, or changing whose grids a
  profile covers, drops this process's copy at once and, once committed, bumps the shared
  version; other processes drop theirs within ``CREDENTIALS_RECHECK_S`` (1 s). A deleted
  token or a deactivated user is refused everywhere within that second;
- a change made behind the ORM's back (raw SQL, ``QuerySet.update``) is picked up when the
  entry is ``CREDENTIALS_TTL_S`` (60 s) old, or at once after ``invalidate()``;
- only what the database confirmed is kept: an unknown token is asked of the database each
  time, so a guessing client cannot fill the memory.

The copy holds row values, never model instances: each request gets instances of its own,
so nothing a request sets on its ``request.user`` reaches another request.
"""

from __future__ import annotations

import copy
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import DEFAULT_DB_ALIAS
from django.db.models.signals import m2m_changed, post_delete, post_save
from rest_framework.authtoken.models import Token

from apps.core.versions import SharedVersion
from apps.org.models import Grid, Profile, Region, Unit
from apps.org.scope import Scope, scope_of

VERSION = SharedVersion("org:credentials-version", "CREDENTIALS_RECHECK_S", 1.0)
MAX_ENTRIES = 20_000  # a county's staff many times over; past it the copy starts afresh

_PROFILE_OF_USER = Profile._meta.get_field("user").remote_field  # user.profile
_REGION_OF_PROFILE = Profile._meta.get_field("region")
_UNIT_OF_PROFILE = Profile._meta.get_field("unit")
_USER_OF_TOKEN = Token._meta.get_field("user")


@dataclass(frozen=True)
class _Row:
    """One model row's values in ``concrete_fields`` order."""

    model: type
    values: tuple
    mutable: bool  # holds a dict or list (a JSONField): copied for each request

    @classmethod
    def of(cls, instance) -> _Row | None:
        if instance is None:
            return None
        values = tuple(getattr(instance, f.attname) for f in instance._meta.concrete_fields)
        return cls(type(instance), values, any(isinstance(v, (dict, list)) for v in values))

    def build(self):
        values = copy.deepcopy(self.values) if self.mutable else self.values
        return self.model.from_db(DEFAULT_DB_ALIAS, None, values)


@dataclass(frozen=True)
class _Person:
    """What the API needs of a user besides the user row: profile, region, unit, scope."""

    version: int
    loaded_at: float
    profile: _Row | None
    region: _Row | None
    unit: _Row | None
    scope: Scope

    @classmethod
    def of(cls, user, version: int) -> _Person:
        profile = _PROFILE_OF_USER.get_cached_value(
            user, None
        )  # select_related: the profile or None
        return cls(
            version=version,
            loaded_at=time.monotonic(),
            profile=_Row.of(profile),
            region=_Row.of(profile.region if profile else None),
            unit=_Row.of(profile.unit if profile else None),
            scope=scope_of(user),
        )  # reads the grids

    def attach_to(self, user) -> None:
        if self.profile is None:
            _PROFILE_OF_USER.set_cached_value(
                user, None
            )  # user.profile raises DoesNotExist, as it would
        else:
            profile = self.profile.build()
            _REGION_OF_PROFILE.set_cached_value(
                profile, self.region.build() if self.region else None
            )
            _UNIT_OF_PROFILE.set_cached_value(profile, self.unit.build() if self.unit else None)
            _PROFILE_OF_USER.set_cached_value(user, profile)
            profile.user = user
        user._liandong_scope = self.scope  # frozen: safe to share


@dataclass(frozen=True)
class _Caller:
    """A token and its user (the person is kept by user id)."""

    version: int
    loaded_at: float
    user_id: int
    token: _Row
    user: _Row


_by_token: dict[str, _Caller] = {}
_by_user: dict[int, _Person] = {}
_lock = threading.Lock()


def _fresh(entry, version: int) -> bool:
    return (
        entry is not None
        and entry.version == version
        and time.monotonic() - entry.loaded_at < getattr(settings, "CREDENTIALS_TTL_S", 60)
    )


def _keep(table: dict, key, entry) -> None:
    with _lock:
        if len(table) >= MAX_ENTRIES:
            table.clear()
        table[key] = entry


def token_user(key: str):
    """``(user, token)`` for an API token, or None if there is no such token. The user comes
    with ``user.profile`` (its region and unit) and its scope already attached."""
    version = VERSION.current()
    caller = _by_token.get(key)
    person = _by_user.get(caller.user_id) if caller is not None else None
    if not (_fresh(caller, version) and _fresh(person, version)):
        token = (
            Token.objects.select_related("user__profile__region", "user__profile__unit")
            .filter(key=key)
            .first()
        )
        if token is None:
            _by_token.pop(key, None)
            return None
        caller = _Caller(
            version, time.monotonic(), token.user_id, _Row.of(token), _Row.of(token.user)
        )
        person = _Person.of(token.user, version)
        _keep(_by_token, key, caller)
        _keep(_by_user, token.user_id, person)
    token, user = caller.token.build(), caller.user.build()
    _USER_OF_TOKEN.set_cached_value(token, user)
    person.attach_to(user)
    return user, token


def attach(user) -> None:
    """Give a signed-in user (e.g. from the session) its profile, region, unit and scope from
    this process's copy, reading them once if the copy has none."""
    if not getattr(user, "is_authenticated", False) or _PROFILE_OF_USER.is_cached(user):
        return
    version = VERSION.current()
    person = _by_user.get(user.pk)
    if not _fresh(person, version):
        profile = Profile.objects.select_related("region", "unit").filter(user_id=user.pk).first()
        _PROFILE_OF_USER.set_cached_value(user, profile)
        person = _Person.of(user, version)
        _keep(_by_user, user.pk, person)
    person.attach_to(user)


def forget_local() -> None:
    """Drop this process's copy."""
    with _lock:
        _by_token.clear()
        _by_user.clear()
    VERSION.forget()


def invalidate() -> None:
    """Call after changing users, profiles, tokens or grids without model saves (bulk writes)."""
    VERSION.changed(forget_local)


def _row_changed(sender, **kwargs) -> None:
    invalidate()


for _model in (Token, get_user_model(), Profile, Region, Unit, Grid):
    post_save.connect(
        _row_changed, sender=_model, dispatch_uid=f"credentials-save-{_model._meta.label}"
    )
    post_delete.connect(
        _row_changed, sender=_model, dispatch_uid=f"credentials-delete-{_model._meta.label}"
    )
m2m_changed.connect(
    _row_changed, sender=Profile.grids.through, dispatch_uid="credentials-profile-grids"
)
