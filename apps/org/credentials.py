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
from typing import Any, Generic, TypeGuard, TypeVar, cast, overload

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser, User
from django.db import DEFAULT_DB_ALIAS
from django.db.models import Model
from django.db.models.signals import m2m_changed, post_delete, post_save
from rest_framework.authtoken.models import Token

from apps.core.versions import SharedVersion
from apps.org.models import Grid, Profile, Region, Unit
from apps.org.scope import AnyUser, Scope, scope_of

VERSION = SharedVersion("org:credentials-version", "CREDENTIALS_RECHECK_S", 1.0)
MAX_ENTRIES = 20_000  # a county's staff many times over; past it the copy starts afresh

_PROFILE_OF_USER = Profile._meta.get_field("user").remote_field  # user.profile
_REGION_OF_PROFILE = Profile._meta.get_field("region")
_UNIT_OF_PROFILE = Profile._meta.get_field("unit")
_USER_OF_TOKEN = Token._meta.get_field("user")


_M = TypeVar("_M", bound=Model)


@dataclass(frozen=True)
class _Row(Generic[_M]):
    """One model row's values in ``concrete_fields`` order."""

    model: type[_M]
    values: tuple[Any, ...]
    mutable: bool  # holds a dict or list (a JSONField): copied for each request

    @overload
    @classmethod
    def of(cls, instance: _M) -> _Row[_M]: ...
    @overload
    @classmethod
    def of(cls, instance: None) -> None: ...
    @classmethod
    def of(cls, instance: _M | None) -> _Row[_M] | None:
        if instance is None:
            return None
        values = tuple(getattr(instance, f.attname) for f in instance._meta.concrete_fields)
        return cls(type(instance), values, any(isinstance(v, (dict, list)) for v in values))

    def build(self) -> _M:
        values = copy.deepcopy(self.values) if self.mutable else self.values
        # field_names may be None when the values cover every concrete field (the stubs say
        # otherwise).
        return self.model.from_db(DEFAULT_DB_ALIAS, None, values)  # type: ignore[arg-type]


@dataclass(frozen=True)
class _Person:
    """What the API needs of a user besides the user row: profile, region, unit, scope."""

    version: int
    loaded_at: float
    profile: _Row[Profile] | None
    region: _Row[Region] | None
    unit: _Row[Unit] | None
    scope: Scope

    @classmethod
    def of(cls, user: User, version: int) -> _Person:
        # select_related: the profile or None (the reverse one-to-one's cache holds a Profile)
        profile = cast("Profile | None", _PROFILE_OF_USER.get_cached_value(user, None))
        return cls(
            version=version,
            loaded_at=time.monotonic(),
            profile=_Row.of(profile),
            region=_Row.of(profile.region if profile else None),
            unit=_Row.of(profile.unit if profile else None),
            scope=scope_of(user),
        )  # reads the grids

    def attach_to(self, user: User) -> None:
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
        # What scope_of caches on the user; frozen: safe to share.
        user._liandong_scope = self.scope  # type: ignore[attr-defined]


@dataclass(frozen=True)
class _Caller:
    """A token and its user (the person is kept by user id)."""

    version: int
    loaded_at: float
    user_id: int
    token: _Row[Token]
    user: _Row[User]


_by_token: dict[str, _Caller] = {}
_by_user: dict[int, _Person] = {}
_lock = threading.Lock()
_Entry = TypeVar("_Entry", _Caller, _Person)
_K = TypeVar("_K", str, int)


def _fresh(entry: _Entry | None, version: int) -> TypeGuard[_Entry]:
    return (
        entry is not None
        and entry.version == version
        and time.monotonic() - entry.loaded_at < getattr(settings, "CREDENTIALS_TTL_S", 60)
    )


def _keep(table: dict[_K, _Entry], key: _K, entry: _Entry) -> None:
    with _lock:
        if len(table) >= MAX_ENTRIES:
            table.clear()
        table[key] = entry


def token_user(key: str) -> tuple[User, Token] | None:
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


def attach(user: AnyUser) -> None:
    """Give a signed-in user (e.g. from the session) its profile, region, unit and scope from
    this process's copy, reading them once if the copy has none."""
    # (An AnonymousUser is never authenticated: the isinstance only tells the type checker.)
    if not getattr(user, "is_authenticated", False) or isinstance(user, AnonymousUser):
        return
    if _PROFILE_OF_USER.is_cached(user):
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
