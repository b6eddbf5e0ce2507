"""Writes for accounts. One function owns each change; the admin screens, the password pages
and the management commands call these, and each records its AccountEvent (the append-only
audit log, ``apps.accounts.audit``) in the same transaction as the change.

- managing accounts: ``account_saved`` (created or changed in the admin: staff flag and groups
  follow the role), ``account_deactivate``;
- security: ``account_unlock`` (lift a login lock), ``account_end_sessions`` (a lost phone),
  ``account_password_set`` (an administrator's reset), ``account_password_change_own``.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from axes.utils import reset as axes_reset
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.contrib.auth.password_validation import validate_password
from django.db import transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

from apps.accounts.audit import account_event_record
from apps.accounts.models import AccountAction, AccountStatus, LoginSession
from apps.org.models import STAFF_ROLES, Profile, Role


def account_role_sync(*, user: User) -> None:
    """Staff flag and permission group follow the role: the desk roles may use the admin, and
    the account is in exactly one role group (other groups a superuser gave stay)."""
    profile = Profile.objects.filter(user=user).first()
    if profile is None:
        return
    is_staff = user.is_superuser or profile.role in STAFF_ROLES
    if user.is_staff != is_staff:
        user.is_staff = is_staff
        user.save(update_fields=["is_staff"])
    role_groups = Group.objects.filter(name__in=Role.values)
    user.groups.remove(*role_groups.exclude(name=profile.role))
    user.groups.add(*Group.objects.filter(name=profile.role))


def account_saved(*, actor: User, user: User, created: bool, changes: dict[str, Any]) -> None:
    """An administrator created or changed an account (the admin form saved it): sync its
    staff flag and groups with its role, and record what changed."""
    account_role_sync(user=user)
    if created:
        account_event_record(actor=actor, target=user, action=AccountAction.CREATE, changes=changes)
        AccountStatus.objects.update_or_create(user=user, defaults={"must_change_password": True})
        return
    active = changes.pop("is_active", None)
    if changes:
        account_event_record(actor=actor, target=user, action=AccountAction.CHANGE, changes=changes)
    if active is not None:
        action = AccountAction.ACTIVATE if user.is_active else AccountAction.DEACTIVATE
        account_event_record(actor=actor, target=user, action=action, changes={"is_active": active})


def account_deactivate(*, actor: User, user: User) -> bool:
    """Switch an account off (kept, with its history; it can no longer sign in or call the API)."""
    if not user.is_active:
        return False
    with transaction.atomic():
        user.is_active = False
        user.save(update_fields=["is_active"])  # the save tells every process's caller copy
        account_event_record(
            actor=actor,
            target=user,
            action=AccountAction.DEACTIVATE,
            changes={"is_active": [True, False]},
        )
    return True


def password_change_required(user: User) -> bool:
    return AccountStatus.objects.filter(user_id=user.pk, must_change_password=True).exists()


@transaction.atomic
def account_unlock(*, actor: User | None, user: User) -> int:
    """Clear the account's failed sign-ins, so its lock ends now. Its failures also stop counting
    towards the lock of the addresses they came from (axes keeps one row per username and
    address). Returns how many attempt rows were cleared."""
    cleared: int = axes_reset(username=user.get_username())  # axes is untyped
    account_event_record(
        actor=actor, target=user, action=AccountAction.UNLOCK, changes={"attempts_cleared": cleared}
    )
    return cleared


@transaction.atomic
def account_end_sessions(*, actor: User | None, user: User) -> int:
    """End every sign-in of the account (a lost phone): each session named in LoginSession is
    deleted through the session store, so both its database row and its cached copy go, and the
    account's API tokens are deleted. Returns how many sessions were ended.

    If the cache cannot be reached the store's delete raises and the whole change rolls back:
    a session left in the cache would still be honoured, so the administrator must see the
    failure and try again rather than believe the phone is signed out."""
    store = import_module(settings.SESSION_ENGINE).SessionStore
    rows = list(LoginSession.objects.filter(user=user))
    for row in rows:
        store(session_key=row.session_key).delete()
    LoginSession.objects.filter(pk__in=[row.pk for row in rows]).delete()
    tokens, _ = Token.objects.filter(user=user).delete()
    account_event_record(
        actor=actor,
        target=user,
        action=AccountAction.END_SESSIONS,
        changes={
            "sessions": len(rows),
            "kinds": sorted({row.kind for row in rows}),
            "tokens": tokens,
        },
    )
    return len(rows)


@transaction.atomic
def account_password_set(
    *,
    actor: User | None,
    user: User,
    password: str,
    must_change: bool = True,
) -> None:
    """An administrator sets (resets) an account's password; by default the person must choose
    their own at the next sign-in. The password must pass the policy like any other (raises
    django.core.exceptions.ValidationError with the Chinese reasons) and is never recorded.
    Changing the password hash ends the account's existing sessions."""
    validate_password(password, user)
    user.set_password(password)
    user.save(update_fields=["password"])
    AccountStatus.objects.update_or_create(
        user=user,
        defaults={"must_change_password": must_change, "password_changed_at": timezone.now()},
    )
    account_event_record(
        actor=actor,
        target=user,
        action=AccountAction.SET_PASSWORD,
        changes={"must_change_password": must_change},
    )


@transaction.atomic
def account_password_change_own(*, user: User, password: str) -> None:
    """The person changes their own password (the desk's and the field app's password pages):
    the first-login requirement is met. The caller keeps its own session valid with
    ``update_session_auth_hash``; the account's other sessions end."""
    validate_password(password, user)
    user.set_password(password)
    user.save(update_fields=["password"])
    AccountStatus.objects.update_or_create(
        user=user, defaults={"must_change_password": False, "password_changed_at": timezone.now()}
    )
    account_event_record(
        actor=user, target=user, action=AccountAction.CHANGE_OWN_PASSWORD, changes={}
    )
