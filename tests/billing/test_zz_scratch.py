from .document_factory import business_customer, gst_line, make_document
from octet.billing import documents, ubl


def test_scratch(operator, asha):
    operator.upi_id = "kaverifiber@okicici"
    operator.address = "No. 14, 3rd Floor, 80 Feet Road\nKoramangala, Bengaluru 560034"
    operator.legal_name = "Kaveri Fibernet Private Limited"
    operator.email = "billing@kaverifiber.in"
    operator.phone = "+91 80 4567 8900"
    operator.invoice_footer = "Bank: HDFC Bank, Koramangala · A/c 50200012345678 · IFSC HDFC0000053\nPayment due within 14 days. Late payment may lead to suspension of service."
    operator.logo_svg = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 40"><circle cx="20" cy="20" r="18" fill="#1f4e79"/><path d="M8 26 Q20 6 32 26" stroke="#fff" stroke-width="3" fill="none"/></svg>'
    operator.save()
    biz = business_customer(gstin="29AABCT1332L1ZA")
    inv = make_document(
        biz,
        [
            gst_line(
                "999.00",
                description="Fiber 100 (100 Mbps, 500 GB), February 2026",
                period_start=__import__("datetime").date(2026, 2, 1),
                period_end=__import__("datetime").date(2026, 3, 1),
            ),
            gst_line(
                "260.00",
                description="Overage 26 GB @ 10.00",
                quantity="26",
                unit_price="10.00",
                kind="overage",
            ),
            gst_line("226.62", description="Static IP address"),
        ],
    )
    open("/tmp/inv.pdf", "wb").write(documents.render_pdf(inv))
    open("/tmp/inv.html", "w").write(documents.render_html(inv))
    open("/tmp/inv.xml", "wb").write(ubl.ubl_xml(inv))


def test_scratch_cn(operator, asha):
    from octet.billing.models import DocumentKind

    operator.upi_id = "kaverifiber@okicici"
    operator.brand_color = "#8a1538"
    operator.save()
    inv = make_document(asha, [gst_line("999.00", intra=False)], place_of_supply="33")
    cn = make_document(
        asha,
        [
            gst_line(
                "500.00", intra=False, description="Credit: Fiber 100, unused days 15-28 Feb 2026"
            )
        ],
        kind=DocumentKind.CREDIT_NOTE,
        number="KFC/25-26/000001",
        against=inv,
        reason="Plan change to Fiber 300",
        place_of_supply="33",
    )
    open("/tmp/cn.pdf", "wb").write(documents.render_pdf(cn))
    open("/tmp/cn.xml", "wb").write(ubl.ubl_xml(cn))
