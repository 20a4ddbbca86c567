"""The ``octet`` console command."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
from pathlib import Path

EXIT_BAD_INPUT = 2

HELP = {
    "migrate": "Create or upgrade the database schema (DATABASE_URL; default a SQLite file).",
    "createadmin": "Create a staff superuser for the web console and admin.",
    "demo": "Load a demo ISP (Indian fibre/wireless operator, GST, plans, 200+ customers).",
    "serve": "Run Octet: migrate, then serve the web console on HOST:PORT, RADIUS and jobs.",
    "radius": "Run the RADIUS server (authentication 1812/udp, accounting 1813/udp).",
    "nas": "Register a NAS (router) that may send RADIUS requests: octet nas add ...",
    "import-usage": "Import usage from a CSV file: username,date,download_bytes,upload_bytes.",
    "simulate": "Run a scenario file on a fresh temporary database and print the JSON result.",
    "pay": "Record a payment received (cash, cheque, bank transfer, UPI reference...).",
    "refund": "Pay back account credit to a customer (cash, bank transfer, ...).",
    "write-off": "Write off what is open on an invoice as bad debt.",
    "promise": "Record a customer's promise to pay by a date (holds suspension until then).",
    "dunning-policy": "Set the dunning policy of a customer group from JSON.",
    "ledger": "The double-entry ledger: trial balance, or check it agrees with the documents.",
    "settlement": "Reconcile a gateway settlement report: octet settlement import FILE.",
    "bill": "Run billing now: every subscription due (or --all) is billed, once.",
    "worker": "Run the scheduled jobs (plan changes, billing, throttle restores) in a loop.",
    "document": "Write the PDF and/or UBL XML of an issued invoice or credit note.",
    "receipt": "Write the PDF receipt of a payment: octet receipt NUMBER --pdf FILE.",
    "vouchers": "Prepaid vouchers: generate a batch for printing, sell it, redeem a code, void.",
    "gateway": "Online payment gateways (Stripe, Razorpay): add, list, enable or disable one.",
    "token": "REST API tokens: create one (shown once), list them, revoke one.",
    "help": "Show help for a command: octet help COMMAND.",
}


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "octet.settings")
    import django

    django.setup()


def _fail(message: str) -> int:
    print(f"octet: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def cmd_migrate(args: argparse.Namespace) -> int:
    _setup_django()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0 if args.quiet else 1)
    return 0


def cmd_createadmin(args: argparse.Namespace) -> int:
    _setup_django()
    from octet.core import accounts
    from octet.core.errors import OctetError

    password = os.environ.get(args.password_env or "", "") if args.password_env else ""
    if not password:
        if not sys.stdin.isatty():
            return _fail(
                "no terminal to ask for a password: set one in an environment variable "
                "and pass --password-env VAR"
            )
        import getpass

        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Password (again): "):
            return _fail("the two passwords differ")
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    try:
        accounts.create_admin(args.username, args.email or "", password, actor="cli")
    except OctetError as exc:
        return _fail(str(exc))
    print(f"created staff superuser {args.username}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    _setup_django()
    from django.core.management import call_command

    from octet import demo

    call_command("migrate", interactive=False, verbosity=0)
    summary = demo.load(customers=args.customers, seed=args.seed)
    print(summary)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    _setup_django()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    from waitress import serve

    from octet.wsgi import application

    if not args.no_radius:
        import threading

        from octet.network.server import run

        threading.Thread(target=run, name="radius", daemon=True).start()
    if not args.no_worker:
        import threading

        from octet.jobs import work_forever

        threading.Thread(
            target=work_forever, kwargs={"in_thread": True}, name="worker", daemon=True
        ).start()
    print(f"Octet is serving on http://{args.host}:{args.port}/ (staff: /admin/)", flush=True)
    serve(application, host=args.host, port=args.port, threads=args.threads, ident="octet")
    return 0


def cmd_radius(args: argparse.Namespace) -> int:
    _setup_django()
    from django.core.management import call_command

    from octet.network.server import run

    call_command("migrate", interactive=False, verbosity=0)
    run(args.host, args.auth_port, args.acct_port)
    return 0


def cmd_nas(args: argparse.Namespace) -> int:
    _setup_django()
    from django.core.management import call_command

    from octet.core.errors import OctetError
    from octet.network import services
    from octet.network.models import Nas

    call_command("migrate", interactive=False, verbosity=0)
    if args.action == "list":
        for nas in Nas.objects.order_by("name"):
            state = "enabled" if nas.enabled else "disabled"
            print(f"{nas.name}\t{nas.address}\t{nas.vendor}\tCoA {nas.coa_port}\t{state}")
        return 0
    secret = os.environ.get(args.secret_env or "", "")
    if not secret:
        return _fail("pass the shared secret in an environment variable: --secret-env VAR")
    try:
        nas = services.create_nas(
            name=args.name,
            address=args.address,
            secret=secret,
            vendor=args.vendor,
            coa_port=args.coa_port,
            actor="cli",
        )
    except OctetError as exc:
        return _fail(str(exc))
    print(f"registered NAS {nas.name} at {nas.address} ({nas.vendor})")
    return 0


def cmd_import_usage(args: argparse.Namespace) -> int:
    _setup_django()
    from django.core.management import call_command

    from octet.core.errors import OctetError
    from octet.metering.imports import import_usage_csv

    call_command("migrate", interactive=False, verbosity=0)
    path = Path(args.file)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        return _fail(f"cannot read {path}: {exc}")
    try:
        batch = import_usage_csv(text, filename=path.name, actor=args.actor)
    except OctetError as exc:
        return _fail(str(exc))
    print(
        f"imported {batch.rows} rows: {batch.download_bytes} bytes down, "
        f"{batch.upload_bytes} bytes up"
    )
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    import yaml

    path = Path(args.file)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        return _fail(f"cannot read {path}: {exc.strerror}")
    except yaml.YAMLError as exc:
        return _fail(f"{path} is not valid YAML: {exc}")
    from octet.simulation.schema import ScenarioError, parse_scenario

    try:
        scenario = parse_scenario(raw)
    except ScenarioError as exc:
        return _fail(f"{path}: {exc}")
    with tempfile.TemporaryDirectory(prefix="octet-sim-") as tmp:
        # A fresh database every run; nothing of the operator's own data is touched.
        os.environ["DATABASE_URL"] = f"sqlite:///{Path(tmp) / 'scenario.sqlite3'}"
        os.environ["OCTET_DATA_DIR"] = tmp
        os.environ["OCTET_TIME_ZONE"] = scenario.operator.time_zone
        os.environ["OCTET_CURRENCY"] = scenario.operator.currency
        _setup_django()
        from django.core.management import call_command

        from octet.core.errors import OctetError
        from octet.simulation.runner import run_scenario

        call_command("migrate", interactive=False, verbosity=0)
        try:
            result = run_scenario(scenario)
        except OctetError as exc:
            return _fail(f"{path}: {exc}")
    json.dump(result, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


def cmd_bill(args: argparse.Namespace) -> int:
    from datetime import datetime

    as_of = None
    if args.as_of:
        try:
            as_of = datetime.fromisoformat(args.as_of)
        except ValueError:
            return _fail(f"--as-of {args.as_of!r} is not an ISO time, e.g. 2026-02-01T00:00+05:30")
        if as_of.tzinfo is None:
            return _fail("--as-of needs a UTC offset, e.g. 2026-02-01T00:00+05:30")
    if args.workers is not None and args.workers < 1:
        return _fail("--workers must be at least 1")
    _setup_django()
    from django.conf import settings

    from octet.billing.services import run_billing
    from octet.core.errors import OctetError

    args.workers = args.workers or settings.OCTET_BILLING_WORKERS
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    try:
        run = run_billing(
            as_of,
            actor=args.actor,
            only_due=not args.all,
            trigger="manual" if args.all else "cli",
            workers=args.workers,
        )
    except OctetError as exc:
        return _fail(str(exc))
    print(
        f"billing run {run.pk}: {run.subscriptions_seen} subscriptions looked at, "
        f"{run.invoices_issued} invoices and {run.credit_notes_issued} credit notes issued, "
        f"{run.errors} errors"
    )
    for error in run.error_list.all():
        print(f"  subscription {error.subscription_id}: {error.message}", file=sys.stderr)
    return 1 if run.errors else 0


def cmd_pay(args: argparse.Namespace) -> int:
    _setup_django()
    from django.core.management import call_command

    from octet.billing.models import Invoice
    from octet.core.errors import OctetError
    from octet.payments import services

    call_command("migrate", interactive=False, verbosity=0)
    try:
        customer = services.find_customer(args.account)
        invoice = None
        if args.invoice:
            invoice = Invoice.objects.filter(number=args.invoice, kind="invoice").first()
            if invoice is None:
                return _fail(f"no invoice numbered {args.invoice!r}")
        payment = services.record_payment(
            customer,
            args.amount,
            args.method,
            reference=args.reference,
            actor=args.actor,
            to_invoice=invoice,
        )
        due, credit = services.balances(customer)
    except OctetError as exc:
        return _fail(str(exc))
    settled = ", ".join(f"{a.invoice.number} {a.amount:.2f}" for a in payment.allocations.all())
    print(
        f"payment {payment.pk} (receipt {payment.receipt_number}): "
        f"{payment.amount:.2f} {payment.currency} by {payment.method}"
    )
    print(f"  settled: {settled or 'nothing open; kept as credit'}")
    print(f"  {customer.account_number} now owes {due} and has {credit} in credit")
    return 0


def cmd_refund(args: argparse.Namespace) -> int:
    _setup_django()
    from django.core.management import call_command

    from octet.core.errors import OctetError
    from octet.payments import services
    from octet.payments.models import Payment

    call_command("migrate", interactive=False, verbosity=0)
    try:
        customer = services.find_customer(args.account)
        payment = None
        if args.receipt:
            payment = Payment.objects.filter(receipt_number=args.receipt).first()
            if payment is None:
                return _fail(f"no payment with receipt {args.receipt!r}")
        refund = services.record_refund(
            customer,
            args.amount,
            method=args.method,
            payment=payment,
            reference=args.reference,
            reason=args.reason,
            actor=args.actor,
        )
        due, credit = services.balances(customer)
    except OctetError as exc:
        return _fail(str(exc))
    print(f"refund {refund.pk}: {refund.amount:.2f} {refund.currency} by {refund.method}")
    print(f"  {customer.account_number} now owes {due} and has {credit} in credit")
    return 0


def cmd_write_off(args: argparse.Namespace) -> int:
    _setup_django()
    from django.core.management import call_command

    from octet.billing.models import Invoice
    from octet.core.errors import OctetError
    from octet.payments import services

    call_command("migrate", interactive=False, verbosity=0)
    invoice = Invoice.objects.filter(number=args.invoice, kind="invoice").first()
    if invoice is None:
        return _fail(f"no invoice numbered {args.invoice!r}")
    try:
        row = services.write_off(invoice, amount=args.amount, reason=args.reason, actor=args.actor)
    except OctetError as exc:
        return _fail(str(exc))
    print(f"wrote off {row.amount:.2f} of {invoice.number}")
    return 0


def cmd_promise(args: argparse.Namespace) -> int:
    _setup_django()
    from datetime import date

    from django.core.management import call_command

    from octet.core.errors import OctetError
    from octet.dunning import services as dunning
    from octet.payments import services as payments

    call_command("migrate", interactive=False, verbosity=0)
    try:
        until = date.fromisoformat(args.until)
    except ValueError:
        return _fail(f"--until {args.until!r} is not a date (YYYY-MM-DD)")
    try:
        customer = payments.find_customer(args.account)
        promise = dunning.promise_to_pay(
            customer,
            until,
            actor=args.actor,
            reason=args.reason,
            reconnect=not args.no_reconnect,
        )
    except OctetError as exc:
        return _fail(str(exc))
    print(f"{customer.account_number} promised to pay by {promise.until}")
    return 0


def cmd_dunning_policy(args: argparse.Namespace) -> int:
    _setup_django()
    from django.core.management import call_command

    from octet.core.errors import OctetError
    from octet.dunning import services as dunning

    call_command("migrate", interactive=False, verbosity=0)
    try:
        settings = json.loads(args.settings)
    except json.JSONDecodeError as exc:
        return _fail(f"the settings are not JSON: {exc.msg}")
    if not isinstance(settings, dict):
        return _fail('the settings must be a JSON object, e.g. {"suspend_days_after_due": 7}')
    try:
        dunning.set_policy(args.group, settings, actor=args.actor)
    except OctetError as exc:
        return _fail(str(exc))
    print(f"dunning policy of group {args.group!r} set")
    return 0


def cmd_ledger(args: argparse.Namespace) -> int:
    _setup_django()
    from datetime import datetime

    from django.core.management import call_command

    from octet.customers.models import Customer
    from octet.payments import journal, ledger, services

    call_command("migrate", interactive=False, verbosity=0)
    until = None
    if args.until:
        try:
            until = datetime.fromisoformat(args.until)
        except ValueError:
            return _fail(f"--until {args.until!r} is not an ISO date/time")
        if until.tzinfo is None:
            return _fail("--until needs a UTC offset, e.g. 2026-03-31T23:59:59+05:30")
    if args.action == "check":
        try:
            services.check_ledger(Customer.objects.iterator(chunk_size=2000))
        except (RuntimeError, ValueError) as exc:
            print(f"octet: ledger check FAILED: {exc}", file=sys.stderr)
            return 1
        print("ledger balances, and every customer's due and credit agree with the documents")
        return 0
    balances = journal.trial_balance(until=until)
    width = max((len(a) for a in balances), default=10)
    debit_total = credit_total = None
    for account in sorted(balances):
        amount = balances[account]
        debit, credit = (amount, None) if not amount.is_negative() else (None, -amount)
        print(f"{account:<{width}}  {str(debit or ''):>16}  {str(credit or ''):>16}")
        if debit is not None:
            debit_total = debit if debit_total is None else debit_total + debit
        if credit is not None:
            credit_total = credit if credit_total is None else credit_total + credit
    print(f"{'total':<{width}}  {str(debit_total or 0):>16}  {str(credit_total or 0):>16}")
    try:
        ledger.check_balanced(balances)
    except ValueError as exc:
        print(f"octet: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_settlement(args: argparse.Namespace) -> int:
    _setup_django()
    from django.core.management import call_command

    from octet.core.errors import OctetError
    from octet.core.models import Operator
    from octet.payments import settlements

    call_command("migrate", interactive=False, verbosity=0)
    try:
        text = Path(args.file).read_text(encoding="utf-8-sig")
    except OSError as exc:
        return _fail(f"cannot read {args.file}: {exc.strerror}")
    try:
        rows = settlements.parse_report(text, Operator.current().currency)
        report = settlements.import_settlements(args.gateway, rows, actor=args.actor)
    except OctetError as exc:
        return _fail(str(exc))
    for settlement_id in report.imported:
        print(f"imported {settlement_id}")
    for settlement_id in report.already:
        print(f"already imported {settlement_id}")
    for problem in report.problems:
        print(f"NOT imported: {problem}", file=sys.stderr)
    print(f"{args.gateway} clearing balance now {settlements.clearing_balance(args.gateway)}")
    return EXIT_BAD_INPUT if report.problems else 0


def cmd_worker(args: argparse.Namespace) -> int:
    _setup_django()
    from django.core.management import call_command

    from octet.jobs import work_forever

    call_command("migrate", interactive=False, verbosity=0)
    with contextlib.suppress(KeyboardInterrupt):
        work_forever(args.interval)
    return 0


def cmd_document(args: argparse.Namespace) -> int:
    if not args.pdf and not args.xml:
        return _fail("say what to write: --pdf FILE and/or --xml FILE")
    _setup_django()
    from django.core.management import call_command

    from octet.billing import documents, ubl
    from octet.billing.models import Invoice
    from octet.core.errors import OctetError

    call_command("migrate", interactive=False, verbosity=0)
    invoice = Invoice.objects.filter(number=args.number).first()
    if invoice is None and args.number.isdigit():
        invoice = Invoice.objects.filter(pk=int(args.number), number__isnull=True).first()
    if invoice is None:
        return _fail(f"no invoice or credit note numbered {args.number!r}")
    try:
        outputs = [(args.pdf, documents.render_pdf)] if args.pdf else []
        outputs += [(args.xml, ubl.ubl_xml)] if args.xml else []
        files = [(Path(path), render(invoice)) for path, render in outputs]
    except OctetError as exc:
        return _fail(str(exc))
    for path, body in files:
        try:
            path.write_bytes(body)
        except OSError as exc:
            return _fail(f"cannot write {path}: {exc.strerror}")
        print(f"wrote {path} ({len(body)} bytes)")
    return 0


def cmd_receipt(args: argparse.Namespace) -> int:
    _setup_django()
    from django.core.management import call_command

    from octet.payments import receipts
    from octet.payments.models import Payment

    call_command("migrate", interactive=False, verbosity=0)
    payments = Payment.objects.select_related("customer")
    payment = payments.filter(receipt_number=args.number).first()
    if payment is None and args.number.isdigit():
        payment = payments.filter(pk=int(args.number), receipt_number__isnull=True).first()
    if payment is None:
        return _fail(f"no payment with receipt number {args.number!r}")
    body = receipts.render_receipt_pdf(payment)
    path = Path(args.pdf)
    try:
        path.write_bytes(body)
    except OSError as exc:
        return _fail(f"cannot write {path}: {exc.strerror}")
    print(f"wrote {path} ({len(body)} bytes)")
    return 0


def _vouchers_generate(args: argparse.Namespace) -> int:
    from django.db import transaction

    from octet.core.errors import OctetError
    from octet.vouchers import services

    targets = [Path(args.csv)] + ([Path(args.pdf)] if args.pdf else [])
    if len({path.resolve() for path in targets}) != len(targets):
        return _fail("--csv and --pdf must name different files")
    for path in targets:
        if path.exists():
            return _fail(f"{path} already exists: codes are never written over a file")
    written: list[Path] = []
    try:
        # The batch exists only if its codes reached the files: one transaction.
        with transaction.atomic():
            generated = services.generate_batch(
                value=args.value,
                count=args.count,
                valid_until=args.valid_until,
                plan=args.plan,
                name=args.name or "",
                actor=args.actor,
            )
            outputs: list[tuple[Path, bytes | str]] = [(targets[0], services.codes_csv(generated))]
            if args.pdf:
                outputs.append((targets[1], services.codes_pdf(generated)))
            for path, body in outputs:
                services.write_export(path, body)
                written.append(path)
    except BaseException as exc:
        for path in written:
            path.unlink(missing_ok=True)
        if isinstance(exc, OctetError):
            return _fail(str(exc))
        if isinstance(exc, OSError):
            return _fail(f"cannot write {exc.filename}: {exc.strerror}; no vouchers were generated")
        raise
    batch = generated.batch
    kind = f"{batch.plan.code} recharge" if batch.plan else "top-up"
    print(
        f"batch {batch.code}: {batch.count} {kind} vouchers of {batch.value:.2f} "
        f"{batch.currency}, valid until {batch.valid_until:%d %b %Y}"
    )
    for path in written:
        print(f"wrote {path} ({path.stat().st_size} bytes, readable by you only)")
    print(f"redeemable once sold: octet vouchers sell {batch.code} --method cash --to SHOP")
    return 0


def _read_voucher_code(args: argparse.Namespace) -> str:
    if args.code_env:
        return os.environ.get(args.code_env, "")
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass("Voucher code: ")
    return sys.stdin.readline()


def cmd_vouchers(args: argparse.Namespace) -> int:
    if args.action == "redeem":
        code = _read_voucher_code(args)  # before Django: a prompt should not wait on migrate
        if not code.strip():
            return _fail(
                "no voucher code: pass it in an environment variable (--code-env VAR) "
                "or on standard input, never on the command line"
            )
    _setup_django()
    from django.core.management import call_command

    from octet.core.errors import OctetError
    from octet.vouchers import services
    from octet.vouchers.models import Voucher, VoucherBatch

    call_command("migrate", interactive=False, verbosity=0)
    if args.action == "generate":
        return _vouchers_generate(args)
    if args.action == "list":
        for batch in VoucherBatch.objects.select_related("plan").order_by("number"):
            counts = {s: batch.vouchers.filter(status=s).count() for s in Voucher.Status.values}
            sold = f"sold {batch.sold_at:%Y-%m-%d} {batch.sold_to}" if batch.sold_at else "unsold"
            print(
                f"{batch.code}\t{batch.value:.2f} {batch.currency}\t"
                f"{batch.plan.code if batch.plan else 'top-up'}\t{batch.count} vouchers: "
                f"{counts['unused']} unused, {counts['redeemed']} redeemed, {counts['void']} void"
                f"\tvalid until {batch.valid_until}\t{batch.status}\t{sold.strip()}"
            )
        return 0
    try:
        if args.action == "sell":
            batch = services.sell_batch(
                services.find_batch(args.batch),
                method=args.method,
                sold_to=args.to,
                reference=args.reference,
                actor=args.actor,
            )
            print(f"batch {batch.code} sold to {batch.sold_to or '-'} by {batch.sale_method}")
            return 0
        if args.action == "void":
            if "-" in args.target:
                voucher = services.void_voucher(
                    services.find_voucher(args.target), reason=args.reason, actor=args.actor
                )
                print(f"voucher {voucher.serial} voided")
            else:
                batch = services.void_batch(
                    services.find_batch(args.target), reason=args.reason, actor=args.actor
                )
                print(f"batch {batch.code} voided")
            return 0
        return _vouchers_redeem(args, code)
    except OctetError as exc:
        return _fail(str(exc))


def _vouchers_redeem(args: argparse.Namespace, code: str) -> int:
    from zoneinfo import ZoneInfo

    from octet.core.models import Operator
    from octet.payments import services as payments
    from octet.subscriptions.models import Subscription
    from octet.vouchers import services

    customer = payments.find_customer(args.account)
    chosen = None
    if args.username:
        chosen = (
            Subscription.objects.filter(customer=customer, username=args.username)
            .exclude(state="terminated")
            .first()
        )
        if chosen is None:
            return _fail(f"{args.account} has no live subscription {args.username!r}")
    result = services.redeem(customer, code, actor=args.actor, subscription=chosen)
    payment = result.payment
    print(
        f"voucher {result.voucher.serial} redeemed: payment {payment.pk} "
        f"(receipt {payment.receipt_number}) {payment.amount:.2f} {payment.currency}"
    )
    sub = result.subscription
    if sub is not None:
        tz = ZoneInfo(Operator.current().time_zone)
        until = sub.prepaid_expires_at.astimezone(tz) if sub.prepaid_expires_at else None
        numbers = ", ".join(inv.number or str(inv.pk) for inv in result.invoices)
        print(
            f"  recharged {sub.username}"
            + (f" until {until:%d %b %Y %H:%M}" if until else "")
            + (f", paying invoice {numbers}" if numbers else "")
        )
    due, credit = payments.balances(customer)
    print(f"  {customer.account_number} now owes {due} and has {credit} in credit")
    return 0


def _secret(env_name: str | None, what: str, prompt: str) -> str | None:
    """A secret from the named environment variable, else asked on the terminal; never argv."""
    if env_name:
        return os.environ.get(env_name, "").strip() or None
    if not sys.stdin.isatty():
        return None
    import getpass

    return getpass.getpass(prompt).strip() or None


def cmd_gateway(args: argparse.Namespace) -> int:
    _setup_django()
    from django.core.management import call_command

    from octet.core.errors import OctetError
    from octet.gateways import services
    from octet.gateways.models import GatewayAccount

    call_command("migrate", interactive=False, verbosity=0)
    public = os.environ.get("OCTET_PUBLIC_URL", "").rstrip("/") or "https://YOUR-OCTET-HOST"
    if args.action == "list":
        for account in GatewayAccount.objects.order_by("name"):
            state = "enabled" if account.enabled else "disabled"
            print(
                f"{account.name}\t{account.provider}\t{account.currency}\t{state}\t"
                f"{public}/gateways/{account.name}/webhook"
            )
        return 0
    if not args.name:
        return _fail(f"gateway {args.action} needs --name")
    if args.action in {"enable", "disable"}:
        account = GatewayAccount.objects.filter(name=args.name).first()
        if account is None:
            return _fail(f"no gateway account named {args.name!r}")
        services.set_account_enabled(
            account,
            args.action == "enable",
            actor=args.actor,
            reason=f"octet gateway {args.action}",
        )
        print(f"gateway account {account.name} {args.action}d")
        return 0
    if not args.provider:
        return _fail("gateway add needs --provider stripe or --provider razorpay")
    secret = _secret(args.secret_env, "API secret key", "API secret key: ")
    if secret is None:
        return _fail(
            "no API secret key: set it in an environment variable and pass --secret-env VAR "
            "(or run on a terminal to be asked)"
        )
    webhook_secret = _secret(args.webhook_secret_env, "webhook secret", "Webhook secret: ")
    if webhook_secret is None:
        return _fail(
            "no webhook signing secret: set it in an environment variable and pass "
            "--webhook-secret-env VAR (or run on a terminal to be asked)"
        )
    try:
        account = services.add_account(
            provider=args.provider,
            name=args.name,
            secret_key=secret,
            webhook_secret=webhook_secret,
            key_id=args.key_id or "",
            api_base=args.api_base or "",
            currency=args.currency,
            actor=args.actor,
        )
    except OctetError as exc:
        return _fail(str(exc))
    print(f"added gateway account {account.name} ({account.get_provider_display()})")
    print(f"  webhook URL for the {account.get_provider_display()} dashboard:")
    print(f"  {public}/gateways/{account.name}/webhook")
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    _setup_django()
    from django.core.management import call_command

    from octet.api import tokens
    from octet.api.models import ApiToken
    from octet.core.errors import OctetError
    from octet.payments.services import find_customer

    call_command("migrate", interactive=False, verbosity=0)
    if args.action == "list":
        for t in ApiToken.objects.select_related("customer").order_by("id"):
            state = f"revoked {t.revoked_at:%Y-%m-%d}" if t.revoked_at else "live"
            customer = t.customer.account_number if t.customer else "all customers"
            print(
                f"{t.pk}\t{t.name}\t{t.prefix}…\t{','.join(t.scopes)}\t{customer}\t"
                f"{t.rate_limit}/min\t{state}"
            )
        return 0
    if not args.name:
        return _fail(f"token {args.action} needs the token's NAME")
    if args.action == "revoke":
        token = ApiToken.objects.filter(name=args.name, revoked_at__isnull=True).first()
        if token is None:
            return _fail(f"no live token named {args.name!r}")
        tokens.revoke_token(token, actor=args.actor, reason=args.reason or "octet token revoke")
        print(f"token {token.name} revoked")
        return 0
    try:
        customer = find_customer(args.customer) if args.customer else None
        token, raw = tokens.create_token(
            name=args.name,
            scopes=args.scopes.split(","),
            customer=customer,
            rate_limit=args.rate_limit,
            actor=args.actor,
        )
    except OctetError as exc:
        return _fail(str(exc))
    print(f"created token {token.name} ({', '.join(token.scopes)}); it is shown this once:")
    print(raw)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="octet", description="Octet: billing, metering and RADIUS AAA for ISPs."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("migrate", help=HELP["migrate"], description=HELP["migrate"])
    p.add_argument("--quiet", action="store_true", help="print nothing on success")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("createadmin", help=HELP["createadmin"], description=HELP["createadmin"])
    p.add_argument("username")
    p.add_argument("--email", default="")
    p.add_argument(
        "--password-env",
        metavar="VAR",
        help="read the password from this environment variable (for scripts; never argv)",
    )
    p.set_defaults(func=cmd_createadmin)

    p = sub.add_parser("demo", help=HELP["demo"], description=HELP["demo"])
    p.add_argument("--customers", type=int, default=240, help="how many customers (default 240)")
    p.add_argument("--seed", type=int, default=2026, help="random seed for repeatable data")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("serve", help=HELP["serve"], description=HELP["serve"])
    p.add_argument("--host", default=os.environ.get("OCTET_HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("OCTET_PORT", "8000")))
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--no-radius", action="store_true", help="do not start the RADIUS server")
    p.add_argument(
        "--no-worker", action="store_true", help="do not run scheduled jobs (run octet worker)"
    )
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("radius", help=HELP["radius"], description=HELP["radius"])
    p.add_argument("--host", default=None, help="address to listen on (OCTET_RADIUS_HOST)")
    p.add_argument("--auth-port", type=int, default=None, help="default 1812")
    p.add_argument("--acct-port", type=int, default=None, help="default 1813")
    p.set_defaults(func=cmd_radius)

    p = sub.add_parser("nas", help=HELP["nas"], description=HELP["nas"])
    p.add_argument("action", choices=["add", "list"])
    p.add_argument("--name")
    p.add_argument("--address", help="IP address or subnet the NAS sends from")
    p.add_argument("--secret-env", metavar="VAR", help="environment variable with the secret")
    p.add_argument(
        "--vendor", default="generic", choices=["mikrotik", "cisco", "juniper", "generic"]
    )
    p.add_argument("--coa-port", type=int, default=3799)
    p.set_defaults(func=cmd_nas)

    p = sub.add_parser("import-usage", help=HELP["import-usage"], description=HELP["import-usage"])
    p.add_argument("file", help="CSV with header username,date,download_bytes,upload_bytes")
    p.add_argument("--actor", default="cli", help="who is importing (for the audit log)")
    p.set_defaults(func=cmd_import_usage)

    p = sub.add_parser("simulate", help=HELP["simulate"], description=HELP["simulate"])
    p.add_argument("file", help="scenario YAML (see shared/scenarios/FORMAT.md)")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("bill", help=HELP["bill"], description=HELP["bill"])
    p.add_argument(
        "--as-of",
        metavar="TIME",
        help="bill what is due by this ISO time with offset (default: now)",
    )
    p.add_argument(
        "--all",
        action="store_true",
        help="re-examine every live subscription, not only those due (late usage, repairs)",
    )
    p.add_argument("--actor", default="cli", help="who runs it (for the audit log)")
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="processes to bill with (default OCTET_BILLING_WORKERS: one per core)",
    )
    p.set_defaults(func=cmd_bill)

    p = sub.add_parser("pay", help=HELP["pay"], description=HELP["pay"])
    p.add_argument("account", help="the customer's account number")
    p.add_argument("amount", help="amount received, e.g. 646.46")
    p.add_argument(
        "--method",
        required=True,
        choices=["cash", "cheque", "bank_transfer", "upi", "card", "netbanking", "wallet"],
    )
    p.add_argument("--reference", default="", help="UTR, cheque number, UPI reference")
    p.add_argument("--invoice", help="settle this invoice first (number)")
    p.add_argument("--actor", default="cli", help="who records it (for the audit log)")
    p.set_defaults(func=cmd_pay)

    p = sub.add_parser("refund", help=HELP["refund"], description=HELP["refund"])
    p.add_argument("account", help="the customer's account number")
    p.add_argument("amount", help="amount paid back, e.g. 174.72")
    p.add_argument("--method", required=True, choices=["cash", "cheque", "bank_transfer", "upi"])
    p.add_argument("--reason", required=True, help="why (for the audit log)")
    p.add_argument("--receipt", help="the receipt number of the payment being refunded")
    p.add_argument("--reference", default="", help="UTR or cheque number of the refund")
    p.add_argument("--actor", default="cli", help="who refunds (for the audit log)")
    p.set_defaults(func=cmd_refund)

    p = sub.add_parser("write-off", help=HELP["write-off"], description=HELP["write-off"])
    p.add_argument("invoice", help="invoice number")
    p.add_argument("--amount", help="part of the open amount (default: all of it)")
    p.add_argument("--reason", required=True, help="why (for the audit log)")
    p.add_argument("--actor", default="cli", help="who writes it off (for the audit log)")
    p.set_defaults(func=cmd_write_off)

    p = sub.add_parser("promise", help=HELP["promise"], description=HELP["promise"])
    p.add_argument("account", help="the customer's account number")
    p.add_argument("--until", required=True, help="the promised date, YYYY-MM-DD")
    p.add_argument("--reason", required=True, help="what was agreed (for the audit log)")
    p.add_argument("--no-reconnect", action="store_true", help="stay suspended until paid")
    p.add_argument("--actor", default="cli", help="who records it (for the audit log)")
    p.set_defaults(func=cmd_promise)

    p = sub.add_parser(
        "dunning-policy", help=HELP["dunning-policy"], description=HELP["dunning-policy"]
    )
    p.add_argument("group", help="customer group, e.g. default, soho, enterprise")
    p.add_argument("settings", help="JSON, e.g. '{\"remind_days_before_due\": [3]}'")
    p.add_argument("--actor", default="cli", help="who sets it (for the audit log)")
    p.set_defaults(func=cmd_dunning_policy)

    p = sub.add_parser("ledger", help=HELP["ledger"], description=HELP["ledger"])
    p.add_argument("action", choices=["trial-balance", "check"])
    p.add_argument("--until", help="trial balance as of this moment (ISO, with offset)")
    p.set_defaults(func=cmd_ledger)

    p = sub.add_parser("settlement", help=HELP["settlement"], description=HELP["settlement"])
    p.add_argument("action", choices=["import"])
    p.add_argument("file", help="the gateway's settlement report (CSV)")
    p.add_argument("--gateway", required=True, help="gateway account name, e.g. razorpay")
    p.add_argument("--actor", default="cli", help="who imports (for the audit log)")
    p.set_defaults(func=cmd_settlement)

    p = sub.add_parser("worker", help=HELP["worker"], description=HELP["worker"])
    p.add_argument("--interval", type=float, default=30.0, help="seconds between passes")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("document", help=HELP["document"], description=HELP["document"])
    p.add_argument("number", help="document number, e.g. KF/25-26/000001 (a draft: its id)")
    p.add_argument("--pdf", metavar="FILE", help="write the PDF here")
    p.add_argument("--xml", metavar="FILE", help="write the EN 16931 UBL XML here")
    p.set_defaults(func=cmd_document)

    p = sub.add_parser("receipt", help=HELP["receipt"], description=HELP["receipt"])
    p.add_argument("number", help="receipt number, e.g. RCPT/25-26/000042 (unnumbered: payment id)")
    p.add_argument("--pdf", metavar="FILE", required=True, help="write the PDF here")
    p.set_defaults(func=cmd_receipt)

    p = sub.add_parser("vouchers", help=HELP["vouchers"], description=HELP["vouchers"])
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    a = actions.add_parser("generate", help="create a batch; write its codes for the printer")
    a.add_argument("--count", type=int, required=True, help="how many vouchers")
    a.add_argument("--value", required=True, help="face value of each, e.g. 588.82")
    a.add_argument("--plan", metavar="CODE", help="prepaid plan they recharge (else: top-up)")
    a.add_argument("--valid-until", metavar="DATE", required=True, help="last day, YYYY-MM-DD")
    a.add_argument("--name", help="what the batch is called (default from value and plan)")
    a.add_argument("--csv", metavar="FILE", required=True, help="write serials and codes here")
    a.add_argument("--pdf", metavar="FILE", help="write a printable sheet of cards here")
    a.add_argument("--actor", default="cli", help="who generates it (for the audit log)")
    a = actions.add_parser("sell", help="record a batch as sold: its vouchers become redeemable")
    a.add_argument("batch", help="batch code, e.g. B0007")
    a.add_argument("--method", required=True, choices=["bank_transfer", "cash", "cheque", "upi"])
    a.add_argument("--to", default="", help="reseller or shop that bought it")
    a.add_argument("--reference", default="", help="UTR, cheque number, UPI reference")
    a.add_argument("--actor", default="cli", help="who records it (for the audit log)")
    a = actions.add_parser(
        "redeem", help="redeem a code for a customer (the code from --code-env VAR or stdin)"
    )
    a.add_argument("account", help="the customer's account number")
    a.add_argument(
        "--code-env", metavar="VAR", help="environment variable with the code (never argv)"
    )
    a.add_argument("--username", help="the subscription to recharge, if several are on the plan")
    a.add_argument("--actor", default="cli", help="who redeems it (for the audit log)")
    a = actions.add_parser("void", help="cancel a batch (B0007) or one voucher (B0007-000123)")
    a.add_argument("target", help="batch code or voucher serial")
    a.add_argument("--reason", required=True)
    a.add_argument("--actor", default="cli", help="who cancels it (for the audit log)")
    actions.add_parser("list", help="list batches and how many vouchers are used")
    p.set_defaults(func=cmd_vouchers)

    p = sub.add_parser("gateway", help=HELP["gateway"], description=HELP["gateway"])
    p.add_argument("action", choices=["add", "list", "enable", "disable"])
    p.add_argument("--name", help="account name, e.g. stripe or razorpay-main (in webhook URLs)")
    p.add_argument("--provider", choices=["stripe", "razorpay"])
    p.add_argument("--key-id", help="Razorpay key id (rzp_live_...); not a secret")
    p.add_argument(
        "--secret-env", metavar="VAR", help="environment variable with the API secret key"
    )
    p.add_argument(
        "--webhook-secret-env",
        metavar="VAR",
        help="environment variable with the webhook signing secret",
    )
    p.add_argument("--api-base", help="API address (default: the provider's; for testing)")
    p.add_argument("--currency", help="ISO code (default: the operator's currency)")
    p.add_argument("--actor", default="cli", help="who does it (for the audit log)")
    p.set_defaults(func=cmd_gateway)

    p = sub.add_parser("token", help=HELP["token"], description=HELP["token"])
    p.add_argument("action", choices=["create", "list", "revoke"])
    p.add_argument("name", nargs="?", help="the token's name (audit log: api:NAME)")
    p.add_argument(
        "--scopes", default="read", help="comma-separated: read, billing, network, admin"
    )
    p.add_argument("--customer", help="account number: the token sees only this customer")
    p.add_argument("--rate-limit", type=int, default=120, help="requests a minute (default 120)")
    p.add_argument("--reason", help="why it is revoked (for the audit log)")
    p.add_argument("--actor", default="cli", help="who does it (for the audit log)")
    p.set_defaults(func=cmd_token)

    p = sub.add_parser("help", help=HELP["help"], description=HELP["help"])
    p.add_argument("topic", nargs="?", choices=sorted(HELP))
    p.set_defaults(func=None)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    if args.command == "help":
        if args.topic:
            parser.parse_args([args.topic, "--help"])
        parser.print_help()
        return 0
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
