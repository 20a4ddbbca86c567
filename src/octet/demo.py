"""A realistic demo ISP: an Indian fibre and wireless operator billing GST.

Loaded by ``octet demo`` through the same services staff use, so every record has its
audit trail. Repeatable: the same seed gives the same customers.
"""

from __future__ import annotations

import random
import secrets
import string
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from octet.catalog import services as catalog
from octet.catalog.models import GB, AddOn, AddOnKind, Plan, PlanKind
from octet.core import accounts, clock
from octet.core.models import Operator
from octet.customers import services as customers
from octet.customers.models import Customer
from octet.customers.validators import INDIAN_STATES, gstin_check_digit
from octet.subscriptions import services as subscriptions

ACTOR = "demo"
ADMIN_USERNAME = "admin"

STATES = {  # state code: (cities, share of customers)
    "29": (["Bengaluru", "Mysuru", "Mangaluru", "Hubballi"], 45),
    "33": (["Chennai", "Coimbatore", "Madurai"], 20),
    "32": (["Kochi", "Thiruvananthapuram", "Kozhikode"], 12),
    "36": (["Hyderabad", "Warangal"], 12),
    "27": (["Pune", "Mumbai"], 6),
    "37": (["Vijayawada", "Visakhapatnam"], 5),
}
FIRST = [
    "Aarav",
    "Aditi",
    "Akash",
    "Ananya",
    "Arjun",
    "Bhavana",
    "Deepa",
    "Dhruv",
    "Divya",
    "Gaurav",
    "Harini",
    "Ishaan",
    "Kavya",
    "Kiran",
    "Lakshmi",
    "Manoj",
    "Meera",
    "Naveen",
    "Nikhil",
    "Pooja",
    "Pradeep",
    "Priya",
    "Rahul",
    "Ramya",
    "Ravi",
    "Rohan",
    "Sanjay",
    "Shreya",
    "Suresh",
    "Swathi",
    "Tejas",
    "Uma",
    "Varun",
    "Vidya",
    "Vikram",
    "Yamini",
    "Zoya",
    "Farhan",
    "Joseph",
    "Anitha",
]
LAST = [
    "Rao",
    "Reddy",
    "Nair",
    "Iyer",
    "Menon",
    "Sharma",
    "Patel",
    "Gowda",
    "Shetty",
    "Kumar",
    "Pillai",
    "Naidu",
    "Hegde",
    "Joshi",
    "Kulkarni",
    "Desai",
    "Bhat",
    "Krishnan",
    "Subramanian",
    "Varghese",
    "Thomas",
    "Khan",
    "Das",
    "Prasad",
    "Murthy",
]
BUSINESS = [
    "Sri Lakshmi Traders",
    "Coastal Logistics",
    "Nandi Software Labs",
    "Green Leaf Cafe",
    "Vasavi Clinic",
    "Kaveri Textiles",
    "Deccan Print House",
    "Malabar Spices",
    "Tech Park Co-working",
    "Sagar Pharma",
]
STREETS = [
    "MG Road",
    "Church Street",
    "2nd Cross, Indiranagar",
    "Anna Salai",
    "Banjara Hills Rd 12",
    "Marine Drive",
    "FC Road",
    "4th Block, Jayanagar",
    "Gandhi Nagar Main Rd",
    "Temple Street",
]


def _gstin(state: str, rng: random.Random) -> str:
    pan = (
        "".join(rng.choices(string.ascii_uppercase, k=3))
        + rng.choice("CF")  # company or firm
        + rng.choice(string.ascii_uppercase)
        + "".join(rng.choices(string.digits, k=4))
        + rng.choice(string.ascii_uppercase)
    )
    first14 = f"{state}{pan}1Z"
    return first14 + gstin_check_digit(first14)


def _mobile(rng: random.Random, used: set[str]) -> str:
    while True:
        number = rng.choice("6789") + "".join(rng.choices(string.digits, k=9))
        if number not in used:
            used.add(number)
            return "+91" + number


def _plans() -> dict[str, Plan]:
    gst = catalog.tax_category_for("998422", "18", "Internet access (SAC 998422) at 18% GST")
    static_ip, _ = AddOn.objects.get_or_create(
        code="STATICIP",
        defaults={
            "name": "Static public IPv4",
            "kind": AddOnKind.STATIC_IP,
            "price": Decimal("200.00"),
            "interval": "month",
            "tax_category": gst,
        },
    )
    specs = [
        (
            "FIBRE50",
            "Fibre 50 Capped 300 GB",
            PlanKind.POSTPAID,
            {
                "price": "599.00",
                "interval": "month",
                "alignment": "calendar",
                "allowance_bytes": 300 * GB,
                "overage_price_per_gb": "10.00",
                "overage_rounding": "up",
                "down_kbps": 50_000,
                "up_kbps": 50_000,
                "setup_fee": "500.00",
            },
        ),
        (
            "FIBRE150",
            "Fibre 150 Unlimited (FUP 1 TB)",
            PlanKind.POSTPAID,
            {
                "price": "999.00",
                "interval": "month",
                "alignment": "calendar",
                "allowance_bytes": 1000 * GB,
                "fair_use_down_kbps": 10_000,
                "fair_use_up_kbps": 10_000,
                "down_kbps": 150_000,
                "up_kbps": 150_000,
                "burst_down_kbps": 200_000,
                "burst_up_kbps": 200_000,
                "burst_threshold_down_kbps": 120_000,
                "burst_threshold_up_kbps": 120_000,
                "burst_time_s": 16,
            },
        ),
        (
            "FIBRE300Q",
            "Fibre 300 Quarterly",
            PlanKind.POSTPAID,
            {
                "price": "3999.00",
                "interval": "quarter",
                "alignment": "anniversary",
                "allowance_bytes": 3000 * GB,
                "fair_use_down_kbps": 20_000,
                "fair_use_up_kbps": 20_000,
                "down_kbps": 300_000,
                "up_kbps": 300_000,
            },
        ),
        (
            "AIR30",
            "AirFiber Prepaid 30 days",
            PlanKind.PREPAID,
            {
                "price": "449.00",
                "interval": "month",
                "alignment": "anniversary",
                "prepaid_validity_days": 30,
                "allowance_bytes": 200 * GB,
                "fair_use_down_kbps": 2_000,
                "fair_use_up_kbps": 1_000,
                "down_kbps": 30_000,
                "up_kbps": 10_000,
                "proration": "none",
            },
        ),
        (
            "BIZ300",
            "Business 300 with static IP",
            PlanKind.POSTPAID,
            {
                "price": "2999.00",
                "interval": "month",
                "alignment": "calendar",
                "down_kbps": 300_000,
                "up_kbps": 300_000,
                "setup_fee": "1500.00",
                "included_addons": [static_ip],
            },
        ),
    ]
    plans = {}
    for code, name, kind, terms in specs:
        plans[code] = catalog.create_plan(
            code=code, name=name, kind=kind, terms={**terms, "tax_category": gst}, actor=ACTOR
        )
    # A price rise: existing FIBRE50 subscribers stay on version 1 until moved.
    return plans


def _admin_password_file():
    return settings.DATA_DIR / "demo-admin-password"


def _ensure_admin() -> str:
    path = _admin_password_file()
    User = get_user_model()
    if User.objects.filter(username=ADMIN_USERNAME).exists():
        return path.read_text().strip() if path.exists() else "(set earlier; see createadmin)"
    password = secrets.token_urlsafe(12)
    accounts.create_admin(ADMIN_USERNAME, "admin@example.in", password, actor=ACTOR)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(password + "\n")
    path.chmod(0o600)
    return password


def load(customers: int = 240, seed: int = 2026) -> str:
    """Load the demo ISP once; a second call only reports what is there."""
    password = _ensure_admin()
    if Customer.objects.exists():
        return _summary(password, loaded=False)
    rng = random.Random(seed)
    today = clock.now()
    with transaction.atomic():
        operator = Operator.current()
        operator.name = "Deccan AirFibre Networks Pvt Ltd"
        operator.legal_name = "Deccan AirFibre Networks Private Limited"
        operator.state_code = "29"
        operator.gstin = "29AAGCD4821K1Z" + gstin_check_digit("29AAGCD4821K1Z")
        operator.address = "No. 14, 3rd Floor, 80 Feet Road, Koramangala, Bengaluru 560034"
        operator.email = "billing@deccanairfibre.example.in"
        operator.phone = "+918041234567"
        operator.upi_id = "deccanairfibre@okicici"
        operator.invoice_series = "DAF/{fy}/"
        operator.credit_note_series = "DAFC/{fy}/"
        operator.account_number_prefix = "DAF"
        operator.save()
        plans = _plans()
        catalog.revise_plan(
            plans["FIBRE50"], {"price": "649.00"}, actor=ACTOR, reason="price revision"
        )
    states = list(STATES)
    weights = [STATES[s][1] for s in states]
    used_phones: set[str] = set()
    for i in range(customers):
        state = rng.choices(states, weights)[0]
        city = rng.choice(STATES[state][0])
        business = i % 9 == 0
        name = (
            f"{rng.choice(BUSINESS)} {city}"
            if business
            else f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        )
        joined = today - timedelta(days=rng.randint(1, 420), hours=rng.randint(0, 23))
        clock.set_time(joined)
        try:
            with transaction.atomic():
                address = f"{rng.randint(1, 240)}, {rng.choice(STREETS)}, {city}"
                customer = customers_create(
                    name=name,
                    kind="business" if business else "individual",
                    email=f"{name.lower().replace(' ', '.')}{i}@example.in",
                    phone=_mobile(rng, used_phones),
                    state_code=state,
                    billing_address=address,
                    billing_city=city,
                    billing_postal_code=str(rng.randint(500001, 699999)),
                    service_address=address,
                    service_city=city,
                    gstin=_gstin(state, rng) if business else "",
                    group="business" if business else "default",
                )
                code = (
                    "BIZ300"
                    if business
                    else rng.choices(
                        ["FIBRE50", "FIBRE150", "FIBRE300Q", "AIR30"], [35, 40, 10, 15]
                    )[0]
                )
                sub = subscriptions.subscribe(
                    customer,
                    plans[code],
                    username=f"{name.split()[0].lower()}{i:04d}",
                    password=secrets.token_urlsafe(9),
                    static_ip=f"203.0.113.{i % 250 + 2}" if business else None,
                    actor=ACTOR,
                    activate=i % 40 != 7,  # a few still waiting for installation
                )
                roll = rng.random()
                if sub.state == "active" and roll < 0.06:
                    clock.set_time(joined + timedelta(days=rng.randint(20, 60)))
                    subscriptions.suspend(sub, reason="non_payment", actor=ACTOR)
                elif sub.state == "active" and roll < 0.08:
                    clock.set_time(joined + timedelta(days=rng.randint(20, 60)))
                    subscriptions.terminate(sub, actor=ACTOR, reason="customer_request")
        finally:
            clock.set_time(None)
    # Let the scheduled jobs catch up from the first subscription to today, each at its own
    # time, as a running worker would have: monthly and quarterly invoices with real dates.
    from octet import jobs

    try:
        jobs.run_due(today, on_each=clock.set_time)
    finally:
        clock.set_time(None)
    return _summary(password, loaded=True)


def customers_create(**data) -> Customer:
    return customers.create_customer(data, actor=ACTOR, reason="demo data")


def _summary(password: str, *, loaded: bool) -> str:
    from octet.billing.models import Invoice
    from octet.subscriptions.models import Subscription

    by_state = {
        s: Subscription.objects.filter(state=s).count()
        for s in ("active", "suspended", "pending", "terminated")
    }
    states = sorted(set(Customer.objects.values_list("state_code", flat=True)))
    lines = [
        ("Loaded" if loaded else "Already loaded") + f" demo ISP {Operator.current().name}:",
        f"  {Customer.objects.count()} customers in {', '.join(INDIAN_STATES[s] for s in states)}",
        f"  {Plan.objects.count()} plans; subscriptions "
        + ", ".join(f"{n} {s}" for s, n in by_state.items()),
        f"  {Invoice.objects.filter(kind='invoice', status='issued').count()} invoices and "
        f"{Invoice.objects.filter(kind='credit_note', status='issued').count()} credit notes "
        "issued so far",
        f"  staff login: user {ADMIN_USERNAME}, password {password}",
    ]
    return "\n".join(lines)
