from django.db import models


class SharedVersionRow(models.Model):
    """The version of one kind of data that processes keep a copy of (``apps.core.versions``)."""

    key = models.CharField(max_length=60, primary_key=True)
    version = models.BigIntegerField(default=1)

    class Meta:
        db_table = "core_shared_version"


class Lease(models.Model):
    """Who may do a periodic job this interval (``apps.core.leases``): one row per job."""

    name = models.CharField(max_length=100, primary_key=True)
    #: The last interval taken: ⌊Unix time / interval⌋ when it was taken.
    slot = models.BigIntegerField(default=-1)
    holder = models.CharField(max_length=200, blank=True, default="")
    taken_at = models.DateTimeField(null=True, blank=True)
    #: How many times the job was taken in all (a second beat must not add to it).
    taken = models.BigIntegerField(default=0)

    class Meta:
        db_table = "core_lease"

    def __str__(self) -> str:
        return f"{self.name} @ {self.slot}"
