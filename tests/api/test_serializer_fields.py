"""The intake's serializers copy their declared fields shallowly (apps/cases/serializers.py,
``CopiedFieldsMixin``): each instance must still get fields of its own."""

from __future__ import annotations

import pytest
from rest_framework import serializers

from apps.cases.serializers import (
    CaseSummarySerializer,
    ReportInputSerializer,
    ReportMultipartSerializer,
)


def test_each_instance_binds_fields_of_its_own():
    first, second = ReportInputSerializer(data={}), ReportInputSerializer(data={})
    assert first.fields["description"] is not second.fields["description"]
    assert (
        first.fields["description"].parent is first
        and second.fields["description"].parent is second
    )
    assert first.fields["description"] is not ReportInputSerializer._declared_fields["description"]
    assert (
        ReportInputSerializer._declared_fields["description"].parent is None
    )  # the declared one stays unbound


def test_a_validator_added_to_one_instance_stays_there():
    def no_rubbish(value):
        if "rubbish" in value:
            raise serializers.ValidationError("no rubbish")

    first = ReportInputSerializer(data={})
    first.fields["description"].validators.append(no_rubbish)
    assert no_rubbish not in ReportInputSerializer(data={}).fields["description"].validators
    assert no_rubbish not in ReportInputSerializer._declared_fields["description"].validators


def test_list_fields_are_deep_copied_with_their_child():
    first, second = ReportMultipartSerializer(data={}), ReportMultipartSerializer(data={})
    assert first.fields["photo_ids"].child is not second.fields["photo_ids"].child
    assert first.fields["photo_ids"].child.parent is first.fields["photo_ids"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "payload, field",
    [
        ({"description": "x" * 2001}, "description"),
        ({"severity": 7}, "severity"),
        ({"lat": 91}, "lat"),
        ({"reporter_phone": "call me"}, "reporter_phone"),
    ],
)
def test_copied_fields_validate_as_declared(payload, field):
    serializer = ReportInputSerializer(
        data={
            "id": "5f0c7c1e-1c5b-4c3e-9a53-0b8e6a3f2a11",
            "category": 1,
            "description": "路灯不亮",
            **payload,
        }
    )
    assert not serializer.is_valid()
    assert field in serializer.errors


def test_display_fields_read_the_label():
    class Row:
        status = "reported"

        def get_status_display(self):
            return "已上报"

    field = CaseSummarySerializer().fields["status_display"]
    assert field.to_representation(field.get_attribute(Row())) == "已上报"
