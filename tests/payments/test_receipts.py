"""Payment receipts: the PDF's contents, reversals, the staff download and the CLI."""

from __future__ import annotations

import io
import os
import re
import sqlite3
import subprocess
import sys
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from pypdf import PdfReader

from octet.billing import services as billing
from octet.billing.models import Invoice
from octet.core import clock
from octet.payments import receipts
from octet.payments import services as payments
from octet.payments.models import Payment
from octet.subscriptions import services as subscriptions

IST = ZoneInfo("Asia/Kolkata")


def at(*args) -> datetime:
    return datetime(*args, tzinfo=IST)


def pdf_text(pdf: bytes) -> str:
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    return " ".join(re.sub(r"-\s*\n\s*", "-", text).split())


def octet(tmp_path, *args):
    """Run the ``octet`` command on its own SQLite file under tmp_path (as tests/test_cli.py)."""
    env = {k: v for k, v in os.environ.items() if k not in {"OCTET_SECRET_KEY"}}
    env.pop("OCTET_TEST_DATABASE_NAME", None)
    env.update(
        OCTET_DATA_DIR=str(tmp_path),
        DATABASE_URL=f"sqlite:///{tmp_path / 'x.sqlite3'}",
        DJANGO_SETTINGS_MODULE="octet.settings",
    )
    return subprocess.run(
        [sys.executable, "-m", "octet.cli", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )


@pytest.fixture(autouse=True)
def _clock():
    yield
    clock.set_time(None)


@pytest.fixture
def billed(fiber100, asha, operator):
    """Asha billed on 15 Jan (646.46) and 1 Feb (1178.82)."""
    operator.legal_name = "Kaveri Fibernet Private Limited"
    operator.address = "No. 14, 80 Feet Road\nKoramangala, Bengaluru 560034"
    operator.invoice_footer = "HDFC Bank, A/c 50200012345678, IFSC HDFC0000053"
    operator.save()
    clock.set_time(at(2026, 1, 15, 9))
    subscriptions.subscribe(asha, fiber100, username="asha", password="s3cret-Pass", actor="t")
    billing.run_billing(at(2026, 2, 1))
    return list(Invoice.objects.order_by("sequence_number"))


@pytest.fixture
def paid(billed, asha):
    """2000.00 by cheque on 5 Feb: settles both invoices (1825.28), 174.72 stays as credit."""
    clock.set_time(at(2026, 2, 5, 11, 30))
    payment = payments.record_payment(
        asha, "2000.00", "cheque", reference="CHQ 004512", actor="clerk"
    )
    Payment.objects.filter(pk=payment.pk).update(receipt_number="KFR/25-26/000042")
    payment.refresh_from_db()
    return payment


def test_receipt_shows_number_amount_words_invoices_and_credit(paid):
    pdf = receipts.render_receipt_pdf(paid)
    assert pdf.startswith(b"%PDF")
    text = pdf_text(pdf)
    for expected in [
        "PAYMENT RECEIPT",
        "Kaveri Fibernet",
        "Kaveri Fibernet Private Limited",
        "29AAACK1234A1Z6",
        "Receipt no. KFR/25-26/000042",
        "Date received 05 Feb 2026",
        "Asha Rao",
        "AC000001",
        "12 MG Road",
        "Bengaluru",
        "Cheque no. CHQ 004512",
        "INR 2,000.00",
        "Rupees Two Thousand Only",
        "KF/25-26/000001",
        "646.46",
        "KF/25-26/000002",
        "1,178.82",
        "Total settled 1,825.28",
        "Kept as account credit: INR 174.72",
        "HDFC Bank, A/c 50200012345678",
    ]:
        assert expected in text, expected
    assert "REVERSED" not in text and "Unnumbered" not in text


def test_an_unnumbered_payment_says_so_and_credit_only(asha, operator):
    clock.set_time(at(2026, 3, 2, 10))
    payment = payments.record_payment(
        asha, "1234567.89", "bank_transfer", reference="UTR HDFCN52026030212345", actor="clerk"
    )
    Payment.objects.filter(pk=payment.pk).update(receipt_number=None)
    payment.refresh_from_db()
    text = pdf_text(receipts.render_receipt_pdf(payment))
    assert f"Unnumbered (payment {payment.pk})" in text
    assert "UTR HDFCN52026030212345" in text
    assert (
        "Rupees Twelve Lakh Thirty-Four Thousand Five Hundred Sixty-Seven "
        "and Paise Eighty-Nine Only"
    ) in text
    assert "12,34,567.89" in text  # Indian grouping
    assert "No invoice settled by this payment" in text
    assert "Kept as account credit: INR 12,34,567.89" in text
    assert receipts.receipt_filename(payment) == f"receipt-payment-{payment.pk}.pdf"


def test_a_reversed_payment_is_marked_and_settles_nothing(paid):
    payments.reverse_payment(paid, reason="cheque bounced", actor="clerk")
    paid.refresh_from_db()
    text = pdf_text(receipts.render_receipt_pdf(paid))
    assert "REVERSED" in text
    assert "No invoice settled by this payment" in text
    assert "Kept as account credit: INR 0.00 (payment reversed)" in text


def test_a_refund_from_the_payment_reduces_what_stays_as_credit(paid, asha):
    payments.record_refund(
        asha, "100.00", method="cash", reason="asked for it back", payment=paid, actor="clerk"
    )
    text = pdf_text(receipts.render_receipt_pdf(paid))
    assert "Refunded from this payment: INR 100.00" in text
    assert "Kept as account credit: INR 74.72" in text


def test_a_gateway_payment_shows_its_id(billed, asha):
    first, _ = billed
    card = payments.record_payment(
        asha,
        "646.46",
        "card",
        actor="razorpay",
        gateway="razorpay",
        gateway_payment_id="pay_Nx81KJ2",
        to_invoice=first,
    )
    text = pdf_text(receipts.render_receipt_pdf(card))
    assert "Gateway razorpay" in text and "Gateway payment id pay_Nx81KJ2" in text
    assert "Method Card" in text
    assert "Kept as account credit: INR 0.00" in text


def test_customer_text_is_escaped(paid, asha):
    asha.name = "Asha <script>alert(1)</script>"
    asha.save()
    html = receipts.receipt_html(paid)
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_staff_download_and_refusals(client, admin_client, paid):
    url = reverse("payments:receipt-pdf", args=[paid.pk])
    assert url == f"/payments/receipts/{paid.pk}.pdf"
    anonymous = client.get(url)
    assert anonymous.status_code == 302 and "/admin/login/" in anonymous["Location"]
    response = admin_client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == (
        'attachment; filename="receipt-KFR-25-26-000042.pdf"'
    )
    assert response["Cache-Control"] == "private, no-store"
    assert "KFR/25-26/000042" in pdf_text(response.content)
    assert admin_client.get(reverse("payments:receipt-pdf", args=[9999])).status_code == 404
    assert admin_client.post(url).status_code == 405


def test_cli_writes_the_receipt_of_a_numbered_payment(tmp_path):
    assert octet(tmp_path, "demo", "--customers", "12").returncode == 0
    with sqlite3.connect(tmp_path / "x.sqlite3") as conn:
        [(account,)] = conn.execute(
            "SELECT account_number FROM customers_customer ORDER BY id LIMIT 1"
        ).fetchall()
    paid = octet(tmp_path, "pay", account, "100.00", "--method", "upi", "--reference", "UTR9")
    assert paid.returncode == 0, paid.stderr
    number = re.search(r"receipt (\S+)\)", paid.stdout).group(1)
    result = octet(tmp_path, "receipt", number, "--pdf", "r.pdf")
    assert result.returncode == 0, result.stderr
    assert "wrote r.pdf" in result.stdout
    text = pdf_text((tmp_path / "r.pdf").read_bytes())
    assert number in text and "Rupees One Hundred Only" in text and "UTR9" in text
    missing = octet(tmp_path, "receipt", "RCPT/00-00/000999", "--pdf", "x.pdf")
    assert missing.returncode == 2 and "no payment with receipt number" in missing.stderr
    assert not (tmp_path / "x.pdf").exists()
    assert octet(tmp_path, "receipt", number).returncode == 2  # --pdf is required
