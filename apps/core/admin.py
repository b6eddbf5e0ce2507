"""What every app's admin screens may share (registers nothing itself)."""

from __future__ import annotations

from django.contrib import admin


class ReadOnlyAdmin(admin.ModelAdmin):
    """A list to read: its rows are written by services, never added, edited or deleted here."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class AfterWrites:
    """Calls ``after_write()`` after every save and delete this admin makes, the bulk delete
    action included: for what a process keeps in memory of these rows and must rebuild."""

    def after_write(self) -> None:
        raise NotImplementedError

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        self.after_write()

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        self.after_write()

    def delete_queryset(self, request, queryset):
        super().delete_queryset(request, queryset)
        self.after_write()
