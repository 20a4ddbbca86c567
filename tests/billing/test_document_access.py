"""Getting at documents: staff downloads, the admin pages and ``octet document``."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from octet import cli
from octet.billing import ubl
from octet.billing.models import BillingError, BillingRun, DocumentKind, Invoice
from octet.core import clock

from .document_factory import business_customer, gst_line, make_document


@pytest.fixture
def invoice(operator):
    return make_document(business_customer(gstin="29AABCT1332L1ZA"), [gst_line("999.00")])


@pytest.fixture
def draft(invoice):
    return make_document(invoice.customer, [gst_line("10.00")], status="draft")


@pytest.fixture
def credit_note(invoice):
    return make_document(
        invoice.customer,
        [gst_line("100.00")],
        kind=DocumentKind.CREDIT_NOTE,
        number="KFC/25-26/000001",
        against=invoice,
        reason="goodwill",
    )


# -- downloads -----------------------------------------------------------------------------


def test_staff_download_the_pdf(admin_client, invoice):
    response = admin_client.get(f"/billing/documents/{invoice.pk}.pdf")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="KF-25-26-000001.pdf"'
    assert response.content.startswith(b"%PDF")


def test_staff_download_the_ubl_xml(admin_client, credit_note):
    response = admin_client.get(reverse("billing:document-xml", args=[credit_note.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/xml"
    assert response["Content-Disposition"] == 'attachment; filename="KFC-25-26-000001.xml"'
    ubl.validate_ubl(response.content)
    assert b"<CreditNote" in response.content


@pytest.mark.parametrize("ext", ["pdf", "xml"])
def test_a_draft_has_no_document(admin_client, draft, ext):
    response = admin_client.get(f"/billing/documents/{draft.pk}.{ext}")
    assert response.status_code == 409
    assert "is a draft: only an issued invoice or credit note" in response.content.decode()


@pytest.mark.parametrize("ext", ["pdf", "xml"])
def test_unknown_document(admin_client, db, ext):
    assert admin_client.get(f"/billing/documents/999999.{ext}").status_code == 404


def test_downloads_are_for_staff_only(client, invoice):
    url = f"/billing/documents/{invoice.pk}.pdf"
    response = client.get(url)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
    User.objects.create_user("subscriber", password="not-staff-pass")
    client.login(username="subscriber", password="not-staff-pass")
    response = client.get(url)
    assert response.status_code == 302
    assert b"%PDF" not in response.content
    assert client.post(url).status_code in {302, 405}


# -- admin ---------------------------------------------------------------------------------


def test_invoice_list_shows_documents_with_download_links(admin_client, invoice, credit_note):
    response = admin_client.get(reverse("admin:billing_invoice_changelist"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "KF/25-26/000001" in page
    assert "KFC/25-26/000001" not in page  # credit notes have their own list
    assert f"/billing/documents/{invoice.pk}.pdf" in page
    assert f"/billing/documents/{invoice.pk}.xml" in page
    page = admin_client.get(reverse("admin:billing_creditnote_changelist")).content.decode()
    assert "KFC/25-26/000001" in page
    assert f"/billing/documents/{credit_note.pk}.pdf" in page


def test_issued_invoice_is_read_only_and_cannot_be_deleted(admin_client, invoice):
    url = reverse("admin:billing_invoice_change", args=[invoice.pk])
    response = admin_client.get(url)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Fiber 100, line 1" in page  # the lines, inline
    assert 'name="_save"' not in page
    assert admin_client.post(url, {"total": "1.00"}).status_code == 403
    delete = reverse("admin:billing_invoice_delete", args=[invoice.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    invoice.refresh_from_db()
    assert invoice.status == "issued"
    assert str(invoice.total) == "1178.820"


def test_a_draft_can_be_deleted_in_admin(admin_client, draft):
    delete = reverse("admin:billing_invoice_delete", args=[draft.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 302
    assert not Invoice.objects.filter(pk=draft.pk).exists()


def test_billing_runs_are_read_only(admin_client, invoice):
    run = BillingRun.objects.create(
        started_at=clock.now(), as_of=clock.now(), actor="test", status="finished"
    )
    response = admin_client.get(reverse("admin:billing_billingrun_change", args=[run.pk]))
    assert response.status_code == 200
    assert 'name="_save"' not in response.content.decode()
    assert admin_client.get(reverse("admin:billing_billingrun_changelist")).status_code == 200
    assert BillingError.objects.count() == 0


@pytest.mark.parametrize("model", ["oneoffcharge", "coupon", "subscriptiondiscount"])
def test_other_billing_lists(admin_client, db, model):
    assert admin_client.get(reverse(f"admin:billing_{model}_changelist")).status_code == 200


# -- octet document ------------------------------------------------------------------------


def test_cli_writes_pdf_and_xml(invoice, tmp_path, capsys):
    pdf, xml = tmp_path / "inv.pdf", tmp_path / "inv.xml"
    assert cli.main(["document", "KF/25-26/000001", "--pdf", str(pdf), "--xml", str(xml)]) == 0
    assert pdf.read_bytes().startswith(b"%PDF")
    ubl.validate_ubl(xml.read_bytes())
    assert "wrote" in capsys.readouterr().out


def test_cli_refuses_unknown_number_and_draft(draft, tmp_path, capsys):
    out = tmp_path / "x.pdf"
    assert cli.main(["document", "KF/99-00/000042", "--pdf", str(out)]) == cli.EXIT_BAD_INPUT
    assert "no invoice or credit note numbered 'KF/99-00/000042'" in capsys.readouterr().err
    assert cli.main(["document", str(draft.pk), "--pdf", str(out)]) == cli.EXIT_BAD_INPUT
    assert "is a draft" in capsys.readouterr().err
    assert not out.exists()
    assert cli.main(["document", "KF/25-26/000001"]) == cli.EXIT_BAD_INPUT
    assert "--pdf FILE and/or --xml FILE" in capsys.readouterr().err


def test_one_off_charge_added_in_admin_goes_through_the_service(admin_client, asha, fiber100):
    from octet.billing.models import OneOffCharge
    from octet.core.models import AuditEntry
    from octet.subscriptions.services import subscribe

    sub = subscribe(asha, fiber100, username="asha.rao", password="s3cret-Pass", actor="test")
    url = reverse("admin:billing_oneoffcharge_add")
    form = {"subscription": sub.pk, "description": "Router", "unit_price": "1500", "quantity": 1}
    response = admin_client.post(url, {**form, "reason": "sold"})
    assert response.status_code == 302, response.content.decode()[:2000]
    charge = OneOffCharge.objects.get()
    assert (charge.description, charge.created_by) == ("Router", "admin")
    assert AuditEntry.objects.filter(action="one_off_charge.created", actor="admin").count() == 1

    from octet.subscriptions.services import terminate

    terminate(sub, actor="test", reason="moved away")
    response = admin_client.post(url, form)
    assert response.status_code == 200  # the service's refusal, shown on the form
    assert "the subscription is terminated" in response.content.decode()
    assert OneOffCharge.objects.count() == 1
