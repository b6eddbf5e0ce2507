"""The account audit log: one function writes it, so every account change is recorded the same
way (who, when, which account, what changed). Called inside the transaction of the change, so
a change and its record commit together or not at all."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User

from apps.accounts.models import AccountEvent


def home_region_id(user: User) -> int | None:
    """The region an account belongs to: its profile's region, else its unit's region."""
    from apps.org.models import Profile

    profile = Profile.objects.filter(user_id=user.pk).select_related("unit").first()
    if profile is None:
        return None
    if profile.region_id:
        return profile.region_id
    return profile.unit.region_id if profile.unit is not None else None


def account_event_record(
    *,
    actor: User | None,
    target: User,
    action: str,
    changes: dict[str, Any] | None = None,
) -> AccountEvent:
    return AccountEvent.objects.create(
        actor=actor if actor is not None and actor.is_authenticated else None,
        target=target if target.pk else None,
        target_username=target.get_username(),
        region_id=home_region_id(target),
        action=action,
        changes=changes or {},
    )
