from django.urls import path

from compliance.vop import api

urlpatterns = [
    path("payee-verifications/", api.PayeeVerificationView.as_view(), name="payee-verifications"),
    path(
        "payee-verifications/batch-opt-out/",
        api.BatchOptOutView.as_view(),
        name="payee-verifications-batch-opt-out",
    ),
]
