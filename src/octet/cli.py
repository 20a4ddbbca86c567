"""The ``octet`` console command."""

from __future__ import annotations

import argparse
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
    "serve": "Run Octet: migrate, then serve the web console on HOST:PORT.",
    "simulate": "Run a scenario file on a fresh temporary database and print the JSON result.",
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

    print(f"Octet is serving on http://{args.host}:{args.port}/ (staff: /admin/)", flush=True)
    serve(application, host=args.host, port=args.port, threads=args.threads, ident="octet")
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
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("simulate", help=HELP["simulate"], description=HELP["simulate"])
    p.add_argument("file", help="scenario YAML (see shared/scenarios/FORMAT.md)")
    p.set_defaults(func=cmd_simulate)

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
