from django.db import models


class SharedVersionRow(models.Model):
    """The version of one kind of data that processes keep a copy of (``apps.core.versions``)."""

    key = models.CharField(max_length=60, primary_key=True)
    version = models.BigIntegerField(default=1)

    class Meta:
        db_table = "core_shared_version"
