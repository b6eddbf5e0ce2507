"""Permission groups, one per role, created by migration so no one sets them up by hand.

The mapping is written out here (not imported) so this migration keeps meaning what it meant
when it ran. Object-level scoping is enforced by selectors; these groups decide which admin
screens and model actions a role has at all.
"""

from django.db import migrations

VIEW_ORG = ["org.view_region", "org.view_grid", "org.view_platform", "org.view_unit", "org.view_profile"]
VIEW_CASES = [
    "cases.view_case", "cases.view_caseevent", "cases.view_casephoto", "cases.view_extensionrequest",
    "cases.view_category", "cases.view_routingrule", "cases.view_timelimit", "cases.view_workcalendarday",
]
ACT_ON_CASES = ["cases.change_case", "cases.change_extensionrequest"]
CONFIGURE = [
    "org.add_grid", "org.change_grid", "org.add_unit", "org.change_unit", "org.add_platform", "org.change_platform",
    "org.add_profile", "org.change_profile",
    "cases.add_category", "cases.change_category", "cases.add_routingrule", "cases.change_routingrule",
    "cases.delete_routingrule", "cases.add_timelimit", "cases.change_timelimit", "cases.delete_timelimit",
    "cases.add_workcalendarday", "cases.change_workcalendarday", "cases.delete_workcalendarday",
    "auth.add_user", "auth.change_user", "auth.view_user",
]

ROLE_PERMISSIONS = {
    "grid_worker": ["cases.add_case", "cases.view_case"],
    "grid_leader": ["cases.add_case", "cases.view_case"],
    "village_handler": VIEW_ORG + VIEW_CASES + ACT_ON_CASES,
    "department_handler": ["cases.view_case", "cases.view_casephoto"],
    "town_dispatcher": VIEW_ORG + VIEW_CASES + ACT_ON_CASES + [
        "org.change_grid", "org.change_unit", "org.add_unit", "org.change_platform", "org.add_profile",
        "org.change_profile", "auth.add_user", "auth.change_user", "auth.view_user",
    ],
    "county_dispatcher": VIEW_ORG + VIEW_CASES + ACT_ON_CASES + CONFIGURE + ["org.add_region", "org.change_region"],
    "leader": VIEW_ORG + VIEW_CASES,
}


def create_role_groups(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    # Permissions are normally made after all migrations (post_migrate); make them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0, apps=apps)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codes in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        perms = []
        for code in codes:
            app_label, codename = code.split(".")
            perms.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
        group.permissions.set(perms)


def remove_role_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLE_PERMISSIONS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("org", "0001_initial"),
        ("cases", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_role_groups, remove_role_groups)]
