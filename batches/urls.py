"""Dashboard pages of batches, under /batches/ (the merchant API's are under /api/v1/batches/)."""

from django.urls import path

from batches import views

app_name = "batches"

urlpatterns = [
    path("", views.batch_list, name="list"),
    path("upload/", views.batch_upload, name="upload"),
    path("sample.csv", views.batch_sample_csv, name="sample_csv"),
    path("<uuid:batch_id>/", views.batch_detail, name="detail"),
    path("<uuid:batch_id>/progress/", views.batch_progress, name="progress"),
    path("<uuid:batch_id>/approve/", views.batch_approve, name="approve"),
    path("<uuid:batch_id>/reject/", views.batch_reject, name="reject"),
    path("<uuid:batch_id>/cancel/", views.batch_cancel, name="cancel"),
    path("<uuid:batch_id>/report.csv", views.batch_report_csv, name="report_csv"),
    path("<uuid:batch_id>/report.xml", views.batch_report_xml, name="report_xml"),
    path("<uuid:batch_id>/failed.csv", views.batch_failed_csv, name="failed_csv"),
]
