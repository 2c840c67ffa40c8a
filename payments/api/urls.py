from rest_framework.routers import SimpleRouter

from payments.api import views

router = SimpleRouter()
router.register("accounts", views.AccountViewSet, basename="account")
router.register("payments", views.PaymentViewSet, basename="payment")
router.register("webhooks", views.WebhookDeliveryViewSet, basename="webhook")

urlpatterns = router.urls
