from django.urls import path

from octet.billing import views

app_name = "billing"

urlpatterns = [
    path("documents/<int:pk>.pdf", views.document_pdf, name="document-pdf"),
    path("documents/<int:pk>.xml", views.document_xml, name="document-xml"),
]
