"""Fixtures for the REST API tests: tokens and a client that sends them."""

from __future__ import annotations

import pytest

from .client import Api


@pytest.fixture
def make_token(operator):
    from octet.api.models import ApiToken
    from octet.api.tokens import create_token

    def make(*scopes: str, customer=None, rate_limit: int = 1000, name: str | None = None):
        if name is None:
            name = f"test-{'-'.join(scopes)}-{customer.pk if customer else 'all'}"
            if ApiToken.objects.filter(name=name).exists():
                name = f"{name}-{ApiToken.objects.count()}"
        _, raw = create_token(
            name=name,
            scopes=scopes,
            customer=customer,
            rate_limit=rate_limit,
            actor="test",
        )
        return raw

    return make


@pytest.fixture
def admin_api(make_token) -> Api:
    return Api(make_token("admin"))


@pytest.fixture
def read_api(make_token) -> Api:
    return Api(make_token("read"))


@pytest.fixture
def billing_api(make_token) -> Api:
    return Api(make_token("billing"))


@pytest.fixture
def network_api(make_token) -> Api:
    return Api(make_token("network"))


@pytest.fixture
def anonymous_api() -> Api:
    return Api(None)


@pytest.fixture
def ravi(operator):
    from octet.customers.services import create_customer

    return create_customer(
        {
            "name": "Ravi Kumar",
            "email": "ravi@example.in",
            "phone": "98860 55555",
            "state_code": "29",
        },
        actor="test",
    )


@pytest.fixture
def asha_sub(asha, fiber100):
    """Asha on Fiber 100, active: her first, partial period is invoiced at activation."""
    from octet.subscriptions.services import subscribe

    return subscribe(asha, fiber100, username="asha", password="s3cret-Pass", actor="test")


@pytest.fixture
def ravi_sub(ravi, fiber100):
    from octet.subscriptions.services import subscribe

    return subscribe(ravi, fiber100, username="ravi", password="s3cret-Pass", actor="test")


@pytest.fixture
def asha_invoice(asha_sub):
    from octet.billing.models import Invoice

    return Invoice.objects.get(customer=asha_sub.customer, kind="invoice")


@pytest.fixture
def ravi_invoice(ravi_sub):
    from octet.billing.models import Invoice

    return Invoice.objects.get(customer=ravi_sub.customer, kind="invoice")
