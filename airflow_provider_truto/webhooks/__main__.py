"""Register the provider's receiver with Truto, and keep the signing secret in the connection.

    python -m airflow_provider_truto.webhooks register --conn-id truto_default \\
        --url https://airflow.example.com/truto/webhooks/truto_default
    python -m airflow_provider_truto.webhooks list --conn-id truto_default

``register`` asks Truto for a webhook (``POST /webhook``: the URL and the events the receiver acts on)
and writes the secret Truto answers into the connection's ``webhook_secret`` extra, in Airflow's
metadata database. Run it where Airflow's CLI runs: it needs the database (the hook and
:mod:`airflow_provider_truto.hooks.webhook_secret` are imported only when it runs). A connection kept in
an environment variable or a secrets backend cannot be written from here: the command refuses before
registering anything, unless ``--show-secret`` asks it to print the secret for you to store yourself. A
URL that already has a webhook is refused too (``--force`` registers another; the connection then keeps
the new secret). The secret is printed nowhere else.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from airflow_provider_truto.webhooks.events import DEFAULT_EVENT_TYPES

if TYPE_CHECKING:
    from airflow_provider_truto.hooks.truto import TrutoHook


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_truto.webhooks",
        description="Register the provider's webhook receiver with Truto.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    register = commands.add_parser(
        "register", help="register a webhook and store its secret in the connection"
    )
    register.add_argument(
        "--conn-id", default="truto_default", help="the truto connection (default truto_default)"
    )
    register.add_argument(
        "--url",
        help="the receiver's public URL (default: [api] base_url + /truto/webhooks/<conn-id>)",
    )
    register.add_argument(
        "--event",
        action="append",
        dest="events",
        metavar="EVENT",
        help=f"an event type to subscribe to (repeatable; default: {', '.join(DEFAULT_EVENT_TYPES)})",
    )
    register.add_argument(
        "--force", action="store_true", help="register even if the URL already has a webhook"
    )
    register.add_argument(
        "--show-secret",
        action="store_true",
        help="print the secret (for a connection this command cannot write: env var or secrets backend)",
    )
    listing = commands.add_parser("list", help="list the environment's webhooks (never their secrets)")
    listing.add_argument(
        "--conn-id", default="truto_default", help="the truto connection (default truto_default)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # A command with the metadata database at hand, as Airflow's own `connections` commands say they are:
    # Airflow 3.3's Task SDK reads connections from the database only in such a process (3.0's always).
    os.environ.setdefault("_AIRFLOW_PROCESS_CONTEXT", "server")
    # Airflow is imported only now: --help works anywhere.
    from airflow_provider_truto.exceptions import TrutoError
    from airflow_provider_truto.hooks.truto import TrutoHook

    hook = TrutoHook(args.conn_id)
    try:
        if args.command == "list":
            for webhook in hook.list_webhooks():
                active = "active" if webhook.get("is_active", True) else "inactive"
                events = ", ".join(webhook.get("event_types") or [])
                print(f"{webhook.get('id')}  {active}  {webhook.get('target_url')}  [{events}]")
            return 0
        return _register(hook, args)
    except TrutoError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        hook.close()


def _register(hook: TrutoHook, args: argparse.Namespace) -> int:
    from airflow_provider_truto.hooks.webhook_secret import (
        WEBHOOK_SECRET_EXTRA,
        connection_in_database,
        receiver_url,
        store_webhook_secret,
    )

    url = args.url or receiver_url(args.conn_id)
    if not url:
        return _refuse(
            "no --url given and Airflow's [api] base_url is not set: pass the receiver's public URL"
        )
    writable = connection_in_database(args.conn_id)
    if not writable and not args.show_secret:
        return _refuse(
            f"connection {args.conn_id!r} is not in Airflow's metadata database (an environment variable "
            f"or a secrets backend holds it), so its {WEBHOOK_SECRET_EXTRA!r} cannot be written from here. "
            "Nothing was registered. Pass --show-secret to have the secret printed, then store it yourself."
        )
    existing = [w for w in hook.list_webhooks() if w.get("target_url") == url]
    if existing and not args.force:
        ids = ", ".join(str(w.get("id")) for w in existing)
        return _refuse(f"{url} already has a webhook ({ids}); --force registers another")
    if not url.lower().startswith("https://"):
        print(
            f"warning: {url} is not https: Truto's deliveries (and their signatures) travel in clear",
            file=sys.stderr,
        )
    webhook = hook.register_webhook(url, args.events)
    events = ", ".join(webhook.get("event_types") or args.events or DEFAULT_EVENT_TYPES)
    print(f"Registered webhook {webhook.get('id')} for {url} ({events})")
    if writable:
        store_webhook_secret(args.conn_id, webhook["secret"])
        print(f"Its secret is stored in connection {args.conn_id!r}, extra {WEBHOOK_SECRET_EXTRA!r}")
    else:
        print(
            f"Store this in connection {args.conn_id!r}, extra {WEBHOOK_SECRET_EXTRA!r}: {webhook['secret']}"
        )
    return 0


def _refuse(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
