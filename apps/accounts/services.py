"""Writes for accounts. One function owns each change; the admin screens call these.

Every change is recorded in the append-only audit log (``apps.accounts.audit``) inside the same
transaction as the change itself.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractUser, Group
from django.db import transaction
from django.utils import timezone

from apps.accounts.audit import account_event_record
from apps.accounts.models import AccountAction, AccountStatus
from apps.org.models import STAFF_ROLES, Profile, Role


def account_role_sync(*, user: AbstractUser) -> None:
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


def account_saved(*, actor: AbstractUser, user: AbstractUser, created: bool, changes: dict[str, Any]) -> None:
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


def account_deactivate(*, actor: AbstractUser, user: AbstractUser) -> bool:
    """Switch an account off (kept, with its history; it can no longer sign in or call the API)."""
    if not user.is_active:
        return False
    with transaction.atomic():
        user.is_active = False
        user.save(update_fields=["is_active"])  # the save tells every process's caller copy
        account_event_record(actor=actor, target=user, action=AccountAction.DEACTIVATE,
                             changes={"is_active": [True, False]})
    return True


def account_password_set(*, actor: AbstractUser, user: AbstractUser, password: str, must_change: bool = True) -> None:
    """An administrator sets an account's password; the person must choose their own at the
    next sign-in. The audit record says that it was set, never what it is."""
    with transaction.atomic():
        user.set_password(password)
        user.save(update_fields=["password"])
        AccountStatus.objects.update_or_create(
            user=user, defaults={"must_change_password": must_change, "password_changed_at": timezone.now()}
        )
        account_event_record(actor=actor, target=user, action=AccountAction.SET_PASSWORD,
                             changes={"must_change_password": must_change})
