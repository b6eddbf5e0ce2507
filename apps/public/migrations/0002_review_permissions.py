"""Let the desks see citizens' ratings and answer poor ones (差评复核) in the admin.

Which rows they see is decided by ``cases_visible_to`` in apps/public/admin.py; these
permissions only open the screens. Open311 keys stay with superusers.
"""

from django.db import migrations

ROLE_PERMISSIONS = {
    "town_dispatcher": ["view_rating", "view_reviewitem", "change_reviewitem"],
    "county_dispatcher": ["view_rating", "view_reviewitem", "change_reviewitem"],
    "leader": ["view_rating", "view_reviewitem"],
}


def grant(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    app_config = apps.get_app_config("public")
    app_config.models_module = True
    create_permissions(app_config, verbosity=0, apps=apps)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.add(*Permission.objects.filter(content_type__app_label="public", codename__in=codenames))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    perms = Permission.objects.filter(content_type__app_label="public")
    for group in Group.objects.filter(name__in=ROLE_PERMISSIONS):
        group.permissions.remove(*perms)


class Migration(migrations.Migration):
    dependencies = [("public", "0001_initial"), ("org", "0002_role_groups")]

    operations = [migrations.RunPython(grant, revoke)]
