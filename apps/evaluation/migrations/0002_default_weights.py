"""The default weights of the composite score, as rows the admin can edit."""

from django.db import migrations

# A frozen copy of apps.evaluation.indicators.DEFAULT_WEIGHTS at the time of this migration.
DEFAULTS = {
    "town": {"handle_on_time_rate": 25, "closure_rate": 20, "sign_on_time_rate": 10, "rework_rate": 10,
             "return_rate": 5, "overdue_now": 10, "satisfaction_good_share": 15, "escalated": 5},
    "village": {"handle_on_time_rate": 25, "closure_rate": 20, "sign_on_time_rate": 10, "rework_rate": 10,
                "overdue_now": 15, "satisfaction_good_share": 15, "escalated": 5},
    "department": {"sign_on_time_rate": 20, "handle_on_time_rate": 25, "closure_rate": 15, "return_rate": 10,
                   "rework_rate": 10, "overdue_now": 10, "satisfaction_good_share": 10},
    "stationed": {"sign_on_time_rate": 20, "handle_on_time_rate": 25, "closure_rate": 15, "return_rate": 10,
                  "rework_rate": 10, "overdue_now": 10, "satisfaction_good_share": 10},
    "grid_worker": {"reports": 50, "self_resolved": 20, "verified": 30},
}


def seed(apps, schema_editor):
    Weight = apps.get_model("evaluation", "EvaluationWeight")
    for kind, weights in DEFAULTS.items():
        for indicator, weight in weights.items():
            Weight.objects.get_or_create(kind=kind, indicator=indicator, defaults={"weight": weight})


class Migration(migrations.Migration):
    dependencies = [("evaluation", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
