from django.urls import path

from octet.payments import views

app_name = "payments"

urlpatterns = [
    path("receipts/<int:pk>.pdf", views.receipt_pdf, name="receipt-pdf"),
]
