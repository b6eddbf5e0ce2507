"""Accounts: who may manage whom (see ``apps.accounts.tiers``), an append-only audit log of
account changes, each account's password state, and the sign-ins an administrator can end.

The organisation (role, region, unit, grids) stays on ``apps.org.models.Profile``; this app holds
what is about the *account*: its password and sessions, and who changed it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class AccountAction(models.TextChoices):
    CREATE = "create", _("新建账号")
    CHANGE = "change", _("修改账号")
    DEACTIVATE = "deactivate", _("停用账号")
    ACTIVATE = "activate", _("启用账号")
    SET_PASSWORD = "set_password", _("重置密码")
    CHANGE_OWN_PASSWORD = "own_password", _("本人修改密码")
    UNLOCK = "unlock", _("解除登录锁定")
    END_SESSIONS = "end_sessions", _("结束登录会话")
    DELETE = "delete", _("删除账号")


class AccountEvent(models.Model):
    """One change to an account: who did it, when, to which account, and what changed.

    Append-only: rows are never updated or deleted (``save`` refuses an update; the admin offers
    no change or delete). ``target_username`` keeps the name readable after an account is gone."""

    at = models.DateTimeField(_("时间"), auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("操作人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    target = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("账号"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="account_events",
    )
    target_username = models.CharField(_("用户名"), max_length=150)
    # The region the account belonged to when the change was made (its own, or its unit's), so
    # the log stays readable in scope after the account moves or is deleted.
    region = models.ForeignKey(
        "org.Region",
        verbose_name=_("所属区划"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    action = models.CharField(_("操作"), max_length=20, choices=AccountAction.choices)
    changes = models.JSONField(_("变更内容"), default=dict, blank=True)

    class Meta:
        verbose_name = _("账号操作记录")
        verbose_name_plural = _("账号操作记录")
        ordering = ["-at", "-pk"]

    def __str__(self) -> str:
        return f"{self.target_username} · {self.get_action_display()}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise ValueError("AccountEvent rows are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("AccountEvent rows are append-only")


class AccountStatus(models.Model):
    """An account's password state: accounts made by an administrator or an import must choose
    their own password at first sign-in."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="account_status"
    )
    must_change_password = models.BooleanField(_("首次登录须修改密码"), default=False)
    password_changed_at = models.DateTimeField(_("密码修改时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("账号状态")
        verbose_name_plural = _("账号状态")


class LoginSession(models.Model):
    """A signed-in browser session of a user, so an administrator can end them all (a lost
    phone). The session itself lives in Django's session store; this row only names its key."""

    class Kind(models.TextChoices):
        DESK = "desk", _("指挥台")
        FIELD = "field", _("外勤 App")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="login_sessions"
    )
    session_key = models.CharField(max_length=40, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.DESK)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("登录会话")
        verbose_name_plural = _("登录会话")
