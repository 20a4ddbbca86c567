"""Rows as API schemas. Money leaves here as exact strings in the currency's minor units."""

from decimal import Decimal

from octet.api import schemas as s
from octet.api.models import ApiToken
from octet.billing.models import Invoice, InvoiceLine
from octet.catalog.models import Plan, PlanVersion
from octet.core.money import Money
from octet.customers.models import Customer
from octet.metering.models import UsagePeriod
from octet.network.models import Nas, RadiusSession
from octet.payments.models import Allocation, Payment, Refund, WriteOff
from octet.subscriptions.models import PlanChange, PlanChangeStatus, StateChange, Subscription


def money(value: Decimal | str, currency: str) -> str:
    """``646.460`` stored → ``"646.46"`` for INR; exact, never through float."""
    try:
        return str(Money(Decimal(value), currency))
    except ValueError:  # more places than the currency has: show it as it is
        return format(Decimal(value).normalize(), "f")


def customer(c: Customer) -> s.CustomerOut:
    return s.CustomerOut(
        id=c.pk,
        account_number=c.account_number,
        name=c.name,
        kind=c.kind,
        email=c.email,
        phone=c.phone,
        alt_phone=c.alt_phone,
        country=c.country,
        state_code=c.state_code,
        billing_address=c.billing_address,
        billing_city=c.billing_city,
        billing_postal_code=c.billing_postal_code,
        service_address=c.service_address,
        service_city=c.service_city,
        service_postal_code=c.service_postal_code,
        gstin=c.gstin,
        vat_id=c.vat_id,
        tax_exempt=c.tax_exempt,
        group=c.group,
        notes=c.notes,
        created_at=c.created_at,
        updated_at=c.updated_at,
    )


def plan_version(v: PlanVersion) -> s.PlanVersionOut:
    cur = v.currency
    tiers = None
    if v.overage_tiers is not None:
        tiers = [
            s.TierOut(up_to_gb=bound, per_gb=money(price, cur))
            for bound, price in (v.tier_prices() or [])
        ]
    category = v.tax_category
    return s.PlanVersionOut(
        id=v.pk,
        plan_id=v.plan_id,
        plan_code=v.plan.code,
        version=v.version,
        created_at=v.created_at,
        created_by=v.created_by,
        currency=cur,
        price=money(v.price, cur),
        tax_inclusive=v.tax_inclusive,
        interval=v.interval,
        alignment=v.alignment,
        fee_timing=v.fee_timing,
        proration=v.proration,
        setup_fee=money(v.setup_fee, cur),
        allowance_bytes=v.allowance_bytes,
        allowance_counts=v.allowance_counts,
        overage_price_per_gb=None
        if v.overage_price_per_gb is None
        else money(v.overage_price_per_gb, cur),
        overage_tiers=tiers,
        overage_rounding=v.overage_rounding,
        fair_use_down_kbps=v.fair_use_down_kbps,
        fair_use_up_kbps=v.fair_use_up_kbps,
        down_kbps=v.down_kbps,
        up_kbps=v.up_kbps,
        burst_down_kbps=v.burst_down_kbps,
        burst_up_kbps=v.burst_up_kbps,
        burst_threshold_down_kbps=v.burst_threshold_down_kbps,
        burst_threshold_up_kbps=v.burst_threshold_up_kbps,
        burst_time_s=v.burst_time_s,
        prepaid_validity_days=v.prepaid_validity_days,
        tax=s.TaxOut(
            sac=category.sac, rate=format(category.rate.normalize(), "f"), exempt=category.exempt
        ),
        addons=sorted(a.code for a in v.included_addons.all()),
    )


def plan(p: Plan) -> s.PlanOut:
    current = p.current_version
    return s.PlanOut(
        id=p.pk,
        code=p.code,
        name=p.name,
        kind=p.kind,
        description=p.description,
        available=p.available,
        created_at=p.created_at,
        current_version=None if current is None else plan_version(current),
    )


def plan_change(c: PlanChange) -> s.PlanChangeOut:
    return s.PlanChangeOut(
        id=c.pk,
        subscription_id=c.subscription_id,
        from_plan=c.from_version.plan.code,
        from_version_id=c.from_version_id,
        to_plan=c.to_version.plan.code,
        to_version_id=c.to_version_id,
        when=c.when,
        requested_at=c.requested_at,
        effective_at=c.effective_at,
        status=c.status,
        reason=c.reason,
    )


def subscription(sub: Subscription) -> s.SubscriptionOut:
    pending = (
        sub.plan_changes.filter(status=PlanChangeStatus.PENDING)
        .select_related("from_version__plan", "to_version__plan")
        .first()
    )
    return s.SubscriptionOut(
        id=sub.pk,
        customer_id=sub.customer_id,
        plan_code=sub.plan_version.plan.code,
        plan_version_id=sub.plan_version_id,
        plan_version=sub.plan_version.version,
        state=sub.state,
        suspend_reason=sub.suspend_reason,
        username=sub.username,
        static_ip=sub.static_ip,
        framed_pool=sub.framed_pool,
        addons=sorted(a.code for a in sub.addons.all()),
        anchor_date=sub.anchor_date,
        created_at=sub.created_at,
        activated_at=sub.activated_at,
        terminated_at=sub.terminated_at,
        prepaid_expires_at=sub.prepaid_expires_at,
        cancel_at=sub.cancel_at,
        pending_plan_change=None if pending is None else plan_change(pending),
    )


def state_change(c: StateChange) -> s.StateChangeOut:
    return s.StateChangeOut(
        at=c.at,
        from_state=c.from_state,
        to_state=c.to_state,
        reason=c.reason,
        note=c.note,
        actor=c.actor,
    )


def usage(u: UsagePeriod) -> s.UsageOut:
    return s.UsageOut(
        subscription_id=u.subscription_id,
        period_start=u.period_start,
        period_end=u.period_end,
        download_bytes=u.download_bytes,
        upload_bytes=u.upload_bytes,
        allowance_bytes=u.allowance_bytes,
        updated_at=u.updated_at,
    )


def session(r: RadiusSession) -> s.SessionOut:
    return s.SessionOut(
        id=r.pk,
        subscription_id=r.subscription_id,
        username=r.username,
        nas_id=r.nas_id,
        acct_session_id=r.acct_session_id,
        started_at=r.started_at,
        updated_at=r.updated_at,
        stopped_at=r.stopped_at,
        download_bytes=r.download_bytes,
        upload_bytes=r.upload_bytes,
        framed_ip=r.framed_ip,
        calling_station_id=r.calling_station_id,
        nas_port_id=r.nas_port_id,
        terminate_cause=r.terminate_cause,
    )


def nas(n: Nas) -> s.NasOut:
    return s.NasOut(
        id=n.pk,
        name=n.name,
        address=n.address,
        vendor=n.vendor,
        coa_address=n.coa_address,
        coa_port=n.coa_port,
        require_message_authenticator=n.require_message_authenticator,
        enabled=n.enabled,
        description=n.description,
        created_at=n.created_at,
    )


def _invoice_fields(inv: Invoice) -> dict:
    cur = inv.currency
    return {
        "id": inv.pk,
        "kind": inv.kind,
        "status": inv.status,
        "number": inv.number,
        "customer_id": inv.customer_id,
        "subscription_id": inv.subscription_id,
        "against_id": inv.against_id,
        "currency": cur,
        "created_at": inv.created_at,
        "issued_at": inv.issued_at,
        "due_date": inv.due_date,
        "subtotal": money(inv.subtotal, cur),
        "tax_total": money(inv.tax_total, cur),
        "total": money(inv.total, cur),
        "tax_regime": inv.tax_regime,
        "place_of_supply": inv.place_of_supply,
        "tax_note": inv.tax_note,
        "reason": inv.reason,
    }


def invoice(inv: Invoice) -> s.InvoiceOut:
    return s.InvoiceOut(**_invoice_fields(inv))


def line(ln: InvoiceLine, currency: str) -> s.LineOut:
    return s.LineOut(
        position=ln.position,
        kind=ln.kind,
        description=ln.description,
        quantity=ln.quantity,
        unit_price=money(ln.unit_price, currency),
        amount=money(ln.amount, currency),
        tax_rate=format(ln.tax_rate.normalize(), "f"),
        taxes=[
            s.LineTaxOut(
                name=str(t.get("name", "")),
                rate=str(t.get("rate", "")),
                amount=money(str(t.get("amount", "0")), currency),
            )
            for t in (ln.taxes or [])
        ],
        tax_amount=money(ln.tax_amount, currency),
        total=money(ln.total, currency),
        period_start=ln.period_start,
        period_end=ln.period_end,
        sac=ln.sac,
        subscription_id=ln.subscription_id,
    )


def invoice_detail(
    inv: Invoice, open_amount: Money | None, credited: Money | None
) -> s.InvoiceDetailOut:
    lines = inv.lines.filter(voided=False).order_by("position")
    return s.InvoiceDetailOut(
        **_invoice_fields(inv),
        lines=[line(ln, inv.currency) for ln in lines],
        open_amount=None if open_amount is None else str(open_amount),
        credited=None if credited is None else str(credited),
    )


def allocation(a: Allocation, currency: str) -> s.AllocationOut:
    return s.AllocationOut(
        id=a.pk,
        customer_id=a.customer_id,
        invoice_id=a.invoice_id,
        payment_id=a.payment_id,
        credit_note_id=a.credit_note_id,
        amount=money(a.amount, currency),
        at=a.at,
        reversed_at=a.reversed_at,
    )


def payment(p: Payment) -> s.PaymentOut:
    return s.PaymentOut(
        id=p.pk,
        customer_id=p.customer_id,
        amount=money(p.amount, p.currency),
        currency=p.currency,
        method=p.method,
        reference=p.reference,
        gateway=p.gateway,
        status=p.status,
        received_at=p.received_at,
        recorded_at=p.recorded_at,
        receipt_number=p.receipt_number,
        note=p.note,
        allocations=[
            allocation(a, p.currency) for a in sorted(p.allocations.all(), key=lambda a: a.pk)
        ],
    )


def refund(r: Refund) -> s.RefundOut:
    return s.RefundOut(
        id=r.pk,
        customer_id=r.customer_id,
        payment_id=r.payment_id,
        amount=money(r.amount, r.currency),
        currency=r.currency,
        method=r.method,
        reference=r.reference,
        status=r.status,
        at=r.at,
        reason=r.reason,
    )


def write_off(w: WriteOff) -> s.WriteOffOut:
    return s.WriteOffOut(
        id=w.pk,
        invoice_id=w.invoice_id,
        customer_id=w.customer_id,
        amount=money(w.amount, w.invoice.currency),
        at=w.at,
        reason=w.reason,
    )


def token(t: ApiToken) -> s.TokenOut:
    return s.TokenOut(
        id=t.pk,
        name=t.name,
        prefix=t.prefix,
        scopes=list(t.scopes),
        customer_id=t.customer_id,
        rate_limit=t.rate_limit,
        created_at=t.created_at,
        created_by=t.created_by,
        expires_at=t.expires_at,
        last_used_at=t.last_used_at,
        revoked_at=t.revoked_at,
    )
