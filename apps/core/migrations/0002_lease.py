from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("core", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="Lease",
            fields=[
                ("name", models.CharField(max_length=100, primary_key=True, serialize=False)),
                ("slot", models.BigIntegerField(default=-1)),
                ("holder", models.CharField(blank=True, default="", max_length=200)),
                ("taken_at", models.DateTimeField(blank=True, null=True)),
                ("taken", models.BigIntegerField(default=0)),
            ],
            options={
                "db_table": "core_lease",
            },
        ),
    ]
