"""Gateway webhooks, and a staff link that sends a customer's invoice to checkout.

Webhooks answer 200 (done, or already done), 400 (signature or body refused: nothing was
written) or 500 when Octet itself failed (the provider delivers again later); always a
short plain-text message, never a traceback.
"""

from __future__ import annotations

import logging

from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from octet.billing.models import DocumentKind, Invoice
from octet.core.errors import Conflict, InvalidInput, NotFound
from octet.gateways import services
from octet.gateways.base import GatewayError, InvalidSignature
from octet.gateways.models import GatewayAccount

log = logging.getLogger(__name__)


def _plain(message: str, status: int) -> HttpResponse:
    response = HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")
    response["Cache-Control"] = "no-store"
    return response


@csrf_exempt  # the provider cannot send a CSRF token; the signature is the check
@require_POST
def webhook(request: HttpRequest, name: str) -> HttpResponse:
    account = GatewayAccount.objects.filter(name=name).first()
    if account is None:
        return _plain("unknown gateway account", 404)
    try:
        body = request.body
    except RequestDataTooBig:
        return _plain("too large", 413)
    try:
        services.handle_webhook(account, body, request.headers)
    except InvalidSignature:
        return _plain("invalid signature", 400)
    except GatewayError:
        return _plain("unreadable event", 400)
    except Exception:
        # Nothing was kept (one transaction): the provider delivers the event again.
        log.exception("gateway %s: webhook failed; the provider will deliver it again", name)
        return _plain("temporary failure; deliver again later", 500)
    return _plain("ok", 200)


# Staff only for now: the subscriber portal will add its own login and ownership checks
# and can reuse services.checkout_for_invoice the same way.
@require_GET
@staff_member_required
def checkout_invoice(request: HttpRequest, invoice_id: int) -> HttpResponse:
    """Create (or reuse) the checkout link for an invoice and go there.

    ``?account=NAME`` picks a gateway account (default: the oldest enabled one);
    ``?save=1`` asks the customer to save the method for auto-pay.
    """
    invoice = get_object_or_404(Invoice, pk=invoice_id, kind=DocumentKind.INVOICE)
    account = None
    if request.GET.get("account"):
        account = get_object_or_404(GatewayAccount, name=request.GET["account"])
    try:
        link = services.checkout_for_invoice(
            invoice,
            account=account,
            return_url=request.build_absolute_uri(reverse("gateways:returned")),
            save_method=request.GET.get("save") == "1",
            actor=request.user.get_username(),
        )
    except NotFound as exc:
        return _plain(exc.message, 404)
    except InvalidInput as exc:
        return _plain(exc.message, 400)
    except Conflict as exc:
        return _plain(exc.message, 409)
    except GatewayError as exc:
        log.warning("checkout for invoice %s failed: %s", invoice_id, exc)
        return _plain(f"the payment gateway failed: {exc}", 502)
    return HttpResponseRedirect(link.url)


@require_GET
def returned(request: HttpRequest) -> HttpResponse:
    """Where the provider sends the customer back (Stripe's success and cancel URL)."""
    return HttpResponse(
        "<!doctype html><title>Payment</title><p>Thank you. If you completed the payment, "
        "it appears on your account within a few minutes.</p>",
        content_type="text/html; charset=utf-8",
    )
