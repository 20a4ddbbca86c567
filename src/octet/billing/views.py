"""Staff downloads of issued documents: the PDF and the UBL XML, rendered on request."""

from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from octet.billing import documents, ubl
from octet.billing.models import Invoice
from octet.core.errors import Conflict


def _download(invoice: Invoice, body: bytes, content_type: str, extension: str) -> HttpResponse:
    response = HttpResponse(body, content_type=content_type)
    name = documents.filename(invoice, extension)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "private, no-store"
    return response


def _refused(exc: Conflict) -> HttpResponse:
    return HttpResponse(exc.message, status=409, content_type="text/plain; charset=utf-8")


@require_GET
@staff_member_required
def document_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    invoice = get_object_or_404(Invoice, pk=pk)
    try:
        body = documents.render_pdf(invoice)
    except Conflict as exc:
        return _refused(exc)
    return _download(invoice, body, "application/pdf", "pdf")


@require_GET
@staff_member_required
def document_xml(request: HttpRequest, pk: int) -> HttpResponse:
    invoice = get_object_or_404(Invoice, pk=pk)
    try:
        body = ubl.ubl_xml(invoice)
    except Conflict as exc:
        return _refused(exc)
    return _download(invoice, body, "application/xml", "xml")
