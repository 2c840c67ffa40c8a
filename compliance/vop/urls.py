from django.urls import path

from compliance.vop import responder

# No trailing slash: CONTRACT.md's path, as the EPC scheme writes it.
urlpatterns = [
    path("v1/payee-verifications", responder.payee_verifications, name="vop-payee-verifications")
]
