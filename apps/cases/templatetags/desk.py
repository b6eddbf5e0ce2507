"""Template helpers of the command desk."""

from django import template

from apps.cases import desk

register = template.Library()


@register.simple_tag
def time_left(case):
    return desk.time_left(case)
