"""The staff checkout link, the return page and the read-only admin pages."""

from __future__ import annotations

import pytest
from django.urls import reverse

from octet.gateways import services
from octet.gateways.models import CheckoutLink
from octet.payments import services as payments


def test_checkout_view_is_for_staff_only(client, stripe_account, invoice):
    response = client.get(f"/gateways/checkout/{invoice.pk}")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert CheckoutLink.objects.count() == 0


def test_checkout_view_redirects_to_the_provider(
    admin_client, stripe_account, stripe_fake, invoice
):
    response = admin_client.get(f"/gateways/checkout/{invoice.pk}")
    link = CheckoutLink.objects.get()
    assert (response.status_code, response["Location"]) == (302, link.url)
    [request] = stripe_fake.requests_to("POST", "/v1/checkout/sessions")
    assert request.params["success_url"] == "http://testserver/gateways/return"
    again = admin_client.get(f"/gateways/checkout/{invoice.pk}?account=stripe")
    assert again["Location"] == link.url and CheckoutLink.objects.count() == 1
    saving = admin_client.get(f"/gateways/checkout/{invoice.pk}?save=1")
    assert saving.status_code == 302 and CheckoutLink.objects.filter(save_method=True).exists()


def test_checkout_view_refusals(admin_client, stripe_account, invoice, asha):
    assert admin_client.get("/gateways/checkout/999999").status_code == 404
    assert admin_client.get(f"/gateways/checkout/{invoice.pk}?account=nosuch").status_code == 404
    payments.record_payment(asha, "646.46", "cash", actor="clerk", to_invoice=invoice)
    response = admin_client.get(f"/gateways/checkout/{invoice.pk}")
    assert response.status_code == 409
    assert b"nothing left to pay" in response.content


def test_checkout_view_when_the_gateway_fails(admin_client, stripe_account, invoice, stripe_fake):
    stripe_fake.stop()
    response = admin_client.get(f"/gateways/checkout/{invoice.pk}")
    assert response.status_code == 502
    assert b"could not be reached" in response.content
    stripe_fake.start()


def test_return_page(client):
    response = client.get(reverse("gateways:returned"))
    assert response.status_code == 200 and b"Thank you" in response.content


def test_default_return_url_from_the_public_address(settings):
    settings.OCTET_PUBLIC_URL = ""
    assert services.default_return_url() == ""
    settings.OCTET_PUBLIC_URL = "https://billing.example.net"
    assert services.default_return_url() == "https://billing.example.net/gateways/return"


@pytest.mark.parametrize(
    "model",
    [
        "gateways_gatewayaccount",
        "gateways_checkoutlink",
        "gateways_savedmethod",
        "gateways_webhookevent",
        "gateways_autopayattempt",
    ],
)
def test_admin_pages(admin_client, stripe_account, stripe_fake, invoice, asha, model):
    link = services.checkout_for_invoice(invoice, save_method=True, actor="clerk")
    _, intent = stripe_fake.pay_session(link.provider_id)
    services.handle_webhook(stripe_account, *stripe_fake.event("payment_intent.succeeded", intent))
    response = admin_client.get(reverse(f"admin:{model}_changelist"))
    assert response.status_code == 200
    page = response.content.decode()
    assert stripe_fake.secret_key not in page and stripe_fake.webhook_secret not in page
    detail = admin_client.get(
        reverse(f"admin:{model}_change", args=[stripe_account.pk])
        if model == "gateways_gatewayaccount"
        else reverse(f"admin:{model}_changelist")
    )
    assert detail.status_code == 200
    assert "encrypted" not in detail.content.decode()
