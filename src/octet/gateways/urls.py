from django.urls import path

from octet.gateways import views

app_name = "gateways"

urlpatterns = [
    path("<slug:name>/webhook", views.webhook, name="webhook"),
    path("checkout/<int:invoice_id>", views.checkout_invoice, name="checkout-invoice"),
    path("return", views.returned, name="returned"),
]
