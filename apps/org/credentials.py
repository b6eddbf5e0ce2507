"""Who is calling: a per-process copy of API tokens and of each caller's profile and scope.

Every API request starts by reading the caller's token, user, profile (with region and unit)
and the grids they cover — two queries and a good part of a report's cost on a busy intake —
and these rows change a few times a week, in the admin. So each process keeps a copy, checked
on every use against a version shared through the cache (``apps.org.shared_version``):

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
from django.db import DEFAULT_DB_ALIAS, transaction
from django.db.models.signals import m2m_changed, post_delete, post_save
from rest_framework.authtoken.models import Token

from apps.org.models import Grid, Profile, Region, Unit
from apps.org.scope import Scope, scope_of
from apps.org.shared_version import SharedVersion

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
class _Caller:
    version: int
    loaded_at: float
    token: _Row
    user: _Row
    profile: _Row | None
    region: _Row | None
    unit: _Row | None
    scope: Scope


_by_token: dict[str, _Caller] = {}
_lock = threading.Lock()


def _fresh(entry: _Caller | None, version: int) -> bool:
    return (entry is not None and entry.version == version
            and time.monotonic() - entry.loaded_at < getattr(settings, "CREDENTIALS_TTL_S", 60))


def _load(key: str, version: int) -> _Caller | None:
    token = (Token.objects.select_related("user__profile__region", "user__profile__unit")
             .filter(key=key).first())
    if token is None:
        return None
    user = token.user
    profile = _PROFILE_OF_USER.get_cached_value(user, None)  # select_related: the profile or None
    return _Caller(
        version=version, loaded_at=time.monotonic(), token=_Row.of(token), user=_Row.of(user),
        profile=_Row.of(profile), region=_Row.of(profile.region if profile else None),
        unit=_Row.of(profile.unit if profile else None), scope=scope_of(user),  # reads the grids
    )


def _assemble(entry: _Caller):
    token, user = entry.token.build(), entry.user.build()
    _USER_OF_TOKEN.set_cached_value(token, user)
    if entry.profile is None:
        _PROFILE_OF_USER.set_cached_value(user, None)  # user.profile raises DoesNotExist, as it would
    else:
        profile = entry.profile.build()
        _REGION_OF_PROFILE.set_cached_value(profile, entry.region.build() if entry.region else None)
        _UNIT_OF_PROFILE.set_cached_value(profile, entry.unit.build() if entry.unit else None)
        _PROFILE_OF_USER.set_cached_value(user, profile)
        profile.user = user
    user._liandong_scope = entry.scope  # frozen: safe to share
    return user, token


def token_user(key: str):
    """``(user, token)`` for an API token, or None if there is no such token. The user comes
    with ``user.profile`` (its region and unit) and its scope already attached."""
    version = VERSION.current()
    entry = _by_token.get(key)
    if not _fresh(entry, version):
        entry = _load(key, version)
        if entry is None:
            _by_token.pop(key, None)
            return None
        with _lock:
            if len(_by_token) >= MAX_ENTRIES:
                _by_token.clear()
            _by_token[key] = entry
    return _assemble(entry)


def forget_local() -> None:
    """Drop this process's copy."""
    with _lock:
        _by_token.clear()
    VERSION.forget()


def _bump_shared() -> None:
    VERSION.bump()
    forget_local()


def invalidate() -> None:
    """Call after changing users, profiles, tokens or grids without model saves (bulk writes)."""
    forget_local()
    # Other processes drop theirs once the rows they would read again are committed.
    transaction.on_commit(_bump_shared)


def _row_changed(sender, **kwargs) -> None:
    invalidate()


for _model in (Token, get_user_model(), Profile, Region, Unit, Grid):
    post_save.connect(_row_changed, sender=_model, dispatch_uid=f"credentials-save-{_model._meta.label}")
    post_delete.connect(_row_changed, sender=_model, dispatch_uid=f"credentials-delete-{_model._meta.label}")
m2m_changed.connect(_row_changed, sender=Profile.grids.through, dispatch_uid="credentials-profile-grids")
