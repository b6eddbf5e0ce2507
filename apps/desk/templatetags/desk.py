"""Template helpers of the command desk."""

from django import template

from apps.cases import tracking
from apps.desk import dashboard as desk

register = template.Library()


@register.simple_tag
def time_left(case):
    return desk.time_left(case)


@register.filter
def tracking_number(number: str) -> str:
    """A tracking number as printed for people: ``7K3M-Q9XD-2HTB-P``."""
    return tracking.display(number or "")
