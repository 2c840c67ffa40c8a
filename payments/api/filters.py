"""Filters of the payment list."""

import django_filters

from payments.models import Payment


class PaymentFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Payment.Status.choices)
    reference = django_filters.CharFilter()
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    batch = django_filters.UUIDFilter(field_name="batch_id")

    class Meta:
        model = Payment
        fields = ["status", "reference", "created_after", "created_before", "batch"]
