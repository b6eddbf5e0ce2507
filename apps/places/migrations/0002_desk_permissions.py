"""Open the places screens of the desk to the roles that use them. Which rows each sees is
decided by ``apps.places.selectors.places_visible_to``; these permissions only open screens
(and ``change_place`` the confirm/close actions, ``add_place`` the import page)."""

from django.db import migrations

ROLE_PERMISSIONS = {
    "village_handler": ["view_place", "change_place", "view_placekind"],
    "town_dispatcher": ["view_place", "change_place", "add_place", "view_placekind"],
    "county_dispatcher": [
        "view_place",
        "change_place",
        "add_place",
        "view_placekind",
        "add_placekind",
        "change_placekind",
    ],
    "leader": ["view_place", "view_placekind"],
}


def grant(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    app_config = apps.get_app_config("places")
    app_config.models_module = True
    create_permissions(app_config, verbosity=0, apps=apps)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.add(
            *Permission.objects.filter(content_type__app_label="places", codename__in=codenames)
        )


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    perms = Permission.objects.filter(content_type__app_label="places")
    for group in Group.objects.filter(name__in=ROLE_PERMISSIONS):
        group.permissions.remove(*perms)


class Migration(migrations.Migration):
    dependencies = [("places", "0001_initial"), ("org", "0002_role_groups")]

    operations = [migrations.RunPython(grant, revoke)]
