"""Accounts in the command desk: the user list (账号), each account with its place in the
organisation inline, the audit log (账号操作记录), and groups and API tokens for superusers only.

Every screen here is a permission screen: lists, pages, pickers and forms are scoped by
``apps.accounts.tiers`` (who manages whom), and a refused choice reads as an invalid choice.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm
from django.contrib.auth.models import Group, User
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import escape
from rest_framework.authtoken.admin import TokenAdmin
from rest_framework.authtoken.models import TokenProxy

from apps.accounts import services, tiers
from apps.accounts.models import AccountEvent
from apps.core.admin import ReadOnlyAdmin
from apps.org.models import Profile, Tier
from apps.org.scope import regions_in_scope


def _is_superuser(request) -> bool:
    return bool(request.user.is_active and request.user.is_superuser)


# --- the account's place in the organisation ------------------------------------------------


class ProfileForm(forms.ModelForm):
    """Role, region/unit and grids, offered only within the administrator's scope (the admin
    sets ``manager`` and scopes the choice lists; ``clean`` has the last word)."""

    manager: Any = None

    class Meta:
        model = Profile
        fields = ("display_name", "role", "phone", "region", "unit", "grids")

    def clean(self):
        data = super().clean()
        role = data.get("role")
        if role and self.manager is not None:
            for problem in tiers.check_assignment(
                self.manager,
                role=role,
                region=data.get("region"),
                unit=data.get("unit"),
                grids=data.get("grids") or [],
            ):
                self.add_error(None, problem)
        return data


class ScopedProfileChoices:
    """Choice lists of a profile form limited to what the administrator manages."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if not _is_superuser(request):
            if db_field.name == "region":
                kwargs["queryset"] = tiers.regions_for_accounts(request.user)
            elif db_field.name == "unit":
                kwargs["queryset"] = tiers.units_for_accounts(request.user)
            elif db_field.name == "user":
                kwargs["queryset"] = tiers.accounts_in_scope(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "grids" and not _is_superuser(request):
            kwargs["queryset"] = tiers.grids_for_accounts(request.user)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def formfield_for_choice_field(self, db_field, request, **kwargs):
        if db_field.name == "role" and not _is_superuser(request):
            kwargs["choices"] = [("", "---------"), *tiers.assignable_roles(request.user)]
        return super().formfield_for_choice_field(db_field, request, **kwargs)

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        formset.form = type("ManagedProfileForm", (formset.form,), {"manager": request.user})
        return formset

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        return type("ManagedProfileForm", (form,), {"manager": request.user})


class ProfileInline(ScopedProfileChoices, admin.StackedInline):
    model = Profile
    form = ProfileForm
    fields = ("display_name", "role", "phone", "region", "unit", "grids")
    filter_horizontal = ("grids",)
    can_delete = False
    verbose_name = "人员与角色"
    verbose_name_plural = "人员与角色"
    extra = 1
    max_num = 1

    def get_min_num(self, request, obj=None, **kwargs):
        # Every account an administrator makes has a place in the organisation: without one it
        # would fall out of their scope (and superusers have none).
        return 0 if _is_superuser(request) else 1

    def get_extra(self, request, obj=None, **kwargs):
        return 0 if obj is not None and Profile.objects.filter(user=obj).exists() else 1

    # The inline follows the account's permissions: whoever may change the account may set its
    # place in the organisation, within their scope.
    def has_view_permission(self, request, obj=None):
        return tiers.is_account_manager(request.user)

    def has_add_permission(self, request, obj=None):
        return tiers.is_account_manager(request.user)

    def has_change_permission(self, request, obj=None):
        return tiers.is_account_manager(request.user)


# --- accounts -------------------------------------------------------------------------------


class ManagedAccountChangeForm(UserChangeForm):
    class Meta(UserChangeForm.Meta):
        # The stubs type the base's fields as str (its "__all__"); a tuple is what Django takes.
        fields = ("username", "password", "is_active")  # type: ignore[assignment]


if admin.site.is_registered(User):
    admin.site.unregister(User)  # django.contrib.auth's own, unscoped


@admin.register(User)
class AccountAdmin(UserAdmin):
    """账号: superusers see Django's full screen; an administrator sees the accounts of their
    scope with username, password, active flag and the place in the organisation."""

    inlines = [ProfileInline]
    # The form checks the two entries and the policy; services.account_password_set sets it.
    change_password_form = AdminPasswordChangeForm
    list_display = ("username", "display_name", "role", "place", "is_active", "last_login")
    list_select_related = ("profile__region", "profile__unit")
    search_fields = ("username", "profile__display_name")
    ordering = ("username",)
    actions = ["deactivate_selected", "unlock_selected", "end_sessions_selected"]
    managed_fieldsets = (
        (None, {"fields": ("username", "password")}),
        ("状态", {"fields": ("is_active", "last_login", "date_joined")}),
    )
    managed_add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("username", "password1", "password2")}),
    )

    # -- who sees what
    def get_queryset(self, request):
        return tiers.accounts_in_scope(request.user).select_related(
            "profile__region", "profile__unit"
        )

    def has_module_permission(self, request):
        return tiers.is_account_manager(request.user) and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return tiers.is_account_manager(request.user) and super().has_view_permission(request, obj)

    def has_add_permission(self, request):
        return tiers.is_account_manager(request.user) and super().has_add_permission(request)

    def has_change_permission(self, request, obj=None):
        return tiers.is_account_manager(request.user) and super().has_change_permission(
            request, obj
        )

    def has_delete_permission(self, request, obj=None):
        # Accounts carry history (reports, steps, ratings answered): switch them off instead.
        return _is_superuser(request) and super().has_delete_permission(request, obj)

    def get_list_filter(self, request):
        if _is_superuser(request):
            return ("is_active", "profile__role", "is_staff", "is_superuser")
        return ("is_active", "profile__role")

    # -- what an administrator may edit
    def get_fieldsets(self, request, obj=None):
        if _is_superuser(request):
            return super().get_fieldsets(request, obj)
        return self.managed_fieldsets if obj is not None else self.managed_add_fieldsets

    def get_readonly_fields(self, request, obj=None):
        return () if _is_superuser(request) else ("last_login", "date_joined")

    def get_form(self, request, obj=None, **kwargs):
        if not _is_superuser(request):
            kwargs["form"] = UserCreationForm if obj is None else ManagedAccountChangeForm
        return super().get_form(request, obj, **kwargs)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        services.account_saved(
            actor=request.user,
            user=form.instance,
            created=not change,
            changes=_changes(form, formsets, change),
        )

    # -- password
    def user_change_password(self, request, id, form_url=""):
        user = self.get_object(request, unquote(id))
        if user is None:
            raise Http404("账号不存在，或不在您的管辖范围内。")
        if not self.has_change_permission(request, user):
            raise PermissionDenied
        form = self.change_password_form(user, request.POST or None)
        if request.method == "POST" and form.is_valid():
            if not form.cleaned_data["set_usable_password"] and not _is_superuser(request):
                raise PermissionDenied
            services.account_password_set(
                actor=request.user, user=user, password=form.cleaned_data["password1"]
            )
            if user.pk == request.user.pk:
                update_session_auth_hash(request, user)  # an administrator resetting their own
            messages.success(
                request, f"已为 {user.get_username()} 设置新密码；对方下次登录时须先修改密码。"
            )
            return HttpResponseRedirect(reverse("admin:auth_user_change", args=(user.pk,)))
        context = {
            **self.admin_site.each_context(request),
            "title": f"设置密码：{escape(user.get_username())}",
            "adminForm": admin.helpers.AdminForm(
                form, [(None, {"fields": list(form.base_fields)})], {}
            ),
            "form_url": form_url,
            "form": form,
            "is_popup": False,
            "add": True,
            "change": False,
            "has_delete_permission": False,
            "has_change_permission": True,
            "has_absolute_url": False,
            "opts": self.opts,
            "original": user,
            "save_as": False,
            "show_save": True,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/auth/user/change_password.html", context)

    # -- actions
    @admin.action(description="停用所选账号", permissions=["change"])
    def deactivate_selected(self, request, queryset):
        count = sum(services.account_deactivate(actor=request.user, user=user) for user in queryset)
        self.message_user(request, f"已停用 {count} 个账号。")

    @admin.action(description="解除所选账号的登录锁定", permissions=["change"])
    def unlock_selected(self, request, queryset):
        for user in queryset:
            services.account_unlock(actor=request.user, user=user)
        self.message_user(
            request, f"已解除 {queryset.count()} 个账号的登录锁定，对方现在可以重新登录。"
        )

    @admin.action(description="结束所选账号的全部登录（如手机丢失）", permissions=["change"])
    def end_sessions_selected(self, request, queryset):
        ended = sum(
            services.account_end_sessions(actor=request.user, user=user) for user in queryset
        )
        self.message_user(
            request, f"已结束 {ended} 个登录会话，并作废这些账号的 API 令牌；对方须重新登录。"
        )

    # -- columns
    @admin.display(description="姓名", ordering="profile__display_name")
    def display_name(self, user: User) -> str:
        profile = getattr(user, "profile", None)
        return profile.display_name if profile else ""

    @admin.display(description="角色", ordering="profile__role")
    def role(self, user: User) -> str:
        profile = getattr(user, "profile", None)
        if profile is None:
            return "超级用户" if user.is_superuser else ""
        return profile.get_role_display()

    @admin.display(description="所属区划/单位")
    def place(self, user: User) -> str:
        profile = getattr(user, "profile", None)
        if profile is None:
            return ""
        return " · ".join(str(x) for x in (profile.region, profile.unit) if x is not None)


def _changes(form, formsets, change: bool) -> dict[str, Any]:
    """What the saved forms changed, field by field, as readable values (never a password)."""
    changes: dict[str, Any] = {}
    forms_ = [form] + [f for formset in formsets for f in formset.forms]
    for each in forms_:
        for name in each.changed_data:
            if name.startswith("password") or name == "usable_password":
                changes["password"] = "已设置"
                continue
            if name not in each.cleaned_data:
                continue
            value = each.cleaned_data[name]
            if hasattr(value, "all") or isinstance(value, (list, tuple, set)):
                value = sorted(str(v) for v in value)
            elif value is not None and not isinstance(value, (bool, int, float)):
                value = str(value)
            if name == "is_active" and change:
                value = [not value, value]
            changes[name] = value
    return changes


@admin.register(Profile)
class ProfileAdmin(ScopedProfileChoices, admin.ModelAdmin):
    """人员与角色: everyone's place in the organisation. Desks read the people of their regions;
    account administrators change those they manage (accounts are added under 账号)."""

    form = ProfileForm
    list_display = ("display_name", "user", "role", "region", "unit", "phone")
    list_filter = ("role", ("region", admin.RelatedOnlyFieldListFilter))
    search_fields = ("display_name", "user__username", "phone")
    list_select_related = ("user", "region", "unit")
    filter_horizontal = ("grids",)

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if _is_superuser(request):
            return qs
        if tiers.is_account_manager(request.user):
            return qs.filter(pk__in=tiers.profiles_in_scope(request.user).values("pk"))
        regions = regions_in_scope(request.user)
        return qs.filter(Q(region__in=regions) | Q(unit__region__in=regions))

    def get_fields(self, request, obj=None):
        return ["user", *ProfileForm.Meta.fields]

    def get_readonly_fields(self, request, obj=None):
        return () if _is_superuser(request) else ("user",)

    def has_add_permission(self, request):
        return _is_superuser(request)

    def has_change_permission(self, request, obj=None):
        return tiers.is_account_manager(request.user) and super().has_change_permission(
            request, obj
        )

    def has_delete_permission(self, request, obj=None):
        return _is_superuser(request) and super().has_delete_permission(request, obj)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        services.account_saved(
            actor=request.user,
            user=form.instance.user,
            created=False,
            changes=_changes(form, formsets, change),
        )


# --- the audit log ------------------------------------------------------------------------


@admin.register(AccountEvent)
class AccountEventAdmin(ReadOnlyAdmin):
    """Read-only: county administrators read the county's account changes (superusers all)."""

    list_display = ("at", "actor", "target_username", "action", "region", "summary")
    list_filter = ("action",)
    search_fields = ("target_username", "actor__username")
    list_select_related = ("actor", "region")
    date_hierarchy = "at"
    fields = ("at", "actor", "target_username", "target", "region", "action", "changes")
    readonly_fields = fields

    def _may_read(self, request) -> bool:
        rank = tiers.manager_rank(request.user)
        return rank is not None and rank >= tiers.TIER_RANK[Tier.COUNTY]

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if _is_superuser(request):
            return qs
        if not self._may_read(request):
            return qs.none()
        return qs.filter(region__in=regions_in_scope(request.user))

    def has_module_permission(self, request):
        return self._may_read(request)

    def has_view_permission(self, request, obj=None):
        return self._may_read(request)

    @admin.display(description="变更内容")
    def summary(self, event: AccountEvent) -> str:
        return "；".join(f"{k}: {v}" for k, v in event.changes.items())


# --- superusers only ----------------------------------------------------------------------


class SuperuserOnly:
    """Groups follow the roles and API tokens are issued by the token endpoint: only superusers
    see these screens."""

    def has_module_permission(self, request):
        return _is_superuser(request)

    def has_view_permission(self, request, obj=None):
        return _is_superuser(request)

    def has_add_permission(self, request, *args):
        return _is_superuser(request)

    def has_change_permission(self, request, obj=None):
        return _is_superuser(request)

    def has_delete_permission(self, request, obj=None):
        return _is_superuser(request)

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        return qs if _is_superuser(request) else qs.none()


for _model, _admin in ((Group, GroupAdmin), (TokenProxy, TokenAdmin)):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)
    admin.site.register(_model, type(f"Superuser{_admin.__name__}", (SuperuserOnly, _admin), {}))
