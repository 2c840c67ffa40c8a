from django.urls import path
from rest_framework.routers import SimpleRouter

from batches.api import views

router = SimpleRouter()
router.register("batches", views.BatchViewSet, basename="batch")

urlpatterns = [
    path("batches/<uuid:pk>/report.csv", views.ResultCsvView.as_view(), name="batch-report-csv"),
    path("batches/<uuid:pk>/report.xml", views.ResultXmlView.as_view(), name="batch-report-xml"),
    path("batches/<uuid:pk>/failed.csv", views.FailedCsvView.as_view(), name="batch-failed-csv"),
    *router.urls,
]
