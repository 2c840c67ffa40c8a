"""Filters of the payment list."""

from datetime import UTC

import django_filters
from django import forms
from django_filters.fields import IsoDateTimeField

from payments.models import Payment


class UTCIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 time, compared in UTC: Python reads offsets up to ±23:59, PostgreSQL
    only to ±15:59, and a time near year 1 may have no UTC equivalent at all."""

    def to_python(self, value):
        moment = super().to_python(value)
        if moment is None:
            return None
        try:
            return moment.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError("the time is out of range", code="invalid") from None


class UTCIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UTCIsoDateTimeField


class PaymentFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Payment.Status.choices)
    reference = django_filters.CharFilter()
    created_after = UTCIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UTCIsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    batch = django_filters.UUIDFilter(field_name="batch_id")
    direction = django_filters.ChoiceFilter(choices=Payment.Direction.choices)

    class Meta:
        model = Payment
        fields = ["status", "reference", "created_after", "created_before", "batch", "direction"]
