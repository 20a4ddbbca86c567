"""Staff downloads of payment receipts (PDF), rendered on request."""

from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from octet.payments import receipts
from octet.payments.models import Payment


@require_GET
@staff_member_required
def receipt_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    payment = get_object_or_404(Payment.objects.select_related("customer"), pk=pk)
    response = HttpResponse(receipts.render_receipt_pdf(payment), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{receipts.receipt_filename(payment)}"'
    response["Cache-Control"] = "private, no-store"
    return response
