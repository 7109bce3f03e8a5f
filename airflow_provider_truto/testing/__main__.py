"""Run the sandbox as a process.

    python -m airflow_provider_truto.testing --channels 500 --rate-limit 50/10 --shared 0.1

Prints ``TRUTO_SANDBOX_URL=...``, ``AIRFLOW_CONN_TRUTO_DEFAULT=...`` and ``ready`` (one line each, flushed),
then serves until SIGINT or SIGTERM and exits 0.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import signal
import sys
import threading
import uuid
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from airflow_provider_truto.testing.server import TrutoSandbox
from airflow_provider_truto.testing.slack import SLACK_LIST_TIER, SLACK_MAX_LIMIT
from airflow_provider_truto.testing.timeline import Planned, load_plan

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import FrameType

DEFAULT_ACCOUNT = "sandbox-account"


MIN_WINDOW_SECONDS = 0.001  # a rate limit's window: no shorter than a millisecond, as printed exactly
MAX_PORT = 65535


def _rate(text: str) -> tuple[int, float]:
    count, sep, seconds = text.partition("/")
    try:
        limit, window = int(count), float(seconds)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N/SECONDS such as 50/10, not {text!r}") from None
    if not sep or limit < 1 or not MIN_WINDOW_SECONDS <= window < math.inf:
        raise argparse.ArgumentTypeError(
            f"expected N/SECONDS with N >= 1 and SECONDS a number >= {MIN_WINDOW_SECONDS:g}, not {text!r}"
        )
    return limit, window


def _port(text: str) -> int:
    value = _non_negative_int(text)
    if value > MAX_PORT:
        raise argparse.ArgumentTypeError(f"expected a port from 0 to {MAX_PORT}, not {text!r}")
    return value


def _token(text: str) -> str:
    """A token the provider's connection accepts as it is (clean_token's rule, nothing to strip)."""
    if not text or not all("!" <= char <= "~" for char in text):
        raise argparse.ArgumentTypeError(
            "expected a token of printable ASCII without spaces (a connection's token cannot hold "
            "whitespace, control or non-ASCII characters); the one given is not shown"
        )
    return text


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, not {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, not {text!r}")
    return value


def _positive_int(text: str) -> int:
    value = _non_negative_int(text)
    if value == 0:
        raise argparse.ArgumentTypeError("expected an integer >= 1, not 0")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, not {text!r}") from None
    if not 0 <= value < math.inf:  # NaN and infinity too: inf ms of latency would hang every request
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, not {text!r}")
    return value


def _share(text: str) -> float:
    value = _non_negative_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"expected a share between 0 and 1, not {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_truto.testing",
        description="Serve a local Truto sandbox on 127.0.0.1.",
    )
    parser.add_argument("--port", type=_port, default=0, help="port (default 0: any free port)")
    parser.add_argument("--token", type=_token, default="sandbox-token", help="API token to accept")
    accounts = parser.add_mutually_exclusive_group()
    accounts.add_argument(
        "--account", action="append", dest="account_ids", metavar="ID", help="an account id (repeatable)"
    )
    accounts.add_argument("--accounts", type=_positive_int, metavar="K", help="generate K accounts")
    parser.add_argument("--channels", type=_non_negative_int, default=200, help="channels per account")
    parser.add_argument(
        "--new-channels",
        type=_non_negative_int,
        default=0,
        metavar="M",
        help="extra channels per account created in the last 24 hours (mixed, like the others)",
    )
    parser.add_argument(
        "--shared",
        type=_share,
        default=0.0,
        metavar="SHARE",
        help="share of channels shared with other organisations (Slack Connect, is_ext_shared), e.g. 0.1",
    )
    parser.add_argument(
        "--org-shared",
        type=_share,
        default=0.0,
        metavar="SHARE",
        help="share of channels shared across the Enterprise Grid organisation only (is_org_shared)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for generated accounts and channels")
    parser.add_argument("--rate-limit", type=_rate, metavar="N/SECONDS", help="per-account limit, e.g. 50/10")
    parser.add_argument("--token-rate-limit", type=_rate, metavar="N/SECONDS", help="per-token limit")
    parser.add_argument(
        "--retry-after",
        type=_non_negative_int,
        metavar="SECONDS",
        help="Retry-After of the limits' 429 (Truto sends 10; default: seconds until there is room)",
    )
    parser.add_argument(
        "--slack-list-limit",
        type=_rate,
        nargs="?",
        const=SLACK_LIST_TIER,
        metavar="N/SECONDS",
        help="Slack's per-workspace limit on listing channels, answered as Slack's 429 through Truto "
        "(without a value: Slack's Tier 2, 20/60; default: no such limit)",
    )
    parser.add_argument(
        "--max-page-size",
        type=_positive_int,
        default=SLACK_MAX_LIMIT,
        metavar="N",
        help=f"the most channels a list page holds, whatever limit asks (default {SLACK_MAX_LIMIT})",
    )
    parser.add_argument(
        "--plan",
        type=_plan,
        metavar="FILE",
        help='JSON {"accounts": [{"at", "id", "channels", "seed"}], "channels": [{"at", "account", "id", '
        '"name"}]}: workspaces connected and channels created that many seconds after start',
    )
    parser.add_argument(
        "--request-log", metavar="FILE", help="append one JSON line per request (no headers, no token)"
    )
    parser.add_argument("--latency-ms", type=_non_negative_float, default=0.0, help="added to every request")
    parser.add_argument("--verbose", action="store_true", help="log each request to stderr")
    return parser


def _plan(path: str) -> list[Planned]:
    try:
        with open(path, encoding="utf-8") as file:
            return load_plan(json.load(file))
    except OSError as error:
        raise argparse.ArgumentTypeError(f"cannot read {path}: {error.strerror or error}") from None
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{path}: {error}") from None


def _account_ids(args: argparse.Namespace) -> list[str]:
    if args.accounts is not None:
        rng = random.Random(args.seed)
        return [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(args.accounts)]
    return list(args.account_ids or [DEFAULT_ACCOUNT])


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.shared + args.org_shared > 1:
        parser.error("--shared and --org-shared together must be at most 1")
    account_ids = _account_ids(args)
    sharing = {"shared": args.shared, "org_shared": args.org_shared}
    sandbox = TrutoSandbox(
        args.token,
        port=args.port,
        account_rate_limit=args.rate_limit,
        token_rate_limit=args.token_rate_limit,
        rate_limit_retry_after=args.retry_after,
        latency_ms=args.latency_ms,
        slack_list_rate_limit=args.slack_list_limit,
        max_page_size=args.max_page_size,
        request_log=args.request_log,
        verbose=args.verbose,
    )
    for index, account_id in enumerate(account_ids):
        sandbox.add_account(account_id)
        # Different seeds per account, so accounts do not mirror each other.
        sandbox.seed_channels(account_id, args.channels, seed=args.seed + index, **sharing)
        if args.new_channels:
            now = datetime.now(timezone.utc)
            new_seed = args.seed + index + 7919  # any fixed offset: new channels must not mirror old ones
            sandbox.seed_channels(
                account_id,
                args.new_channels,
                seed=new_seed,
                start=now - timedelta(days=1),
                end=now,
                **sharing,
            )
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    sandbox.start()
    try:
        if args.plan:
            sandbox.play(args.plan)
        print(f"TRUTO_SANDBOX_URL={sandbox.url}", flush=True)
        print(f"AIRFLOW_CONN_TRUTO_DEFAULT={sandbox.airflow_conn_env(account_ids[0])}", flush=True)
        print("ready", flush=True)
        # wait() with a timeout so the main thread gets back to Python to run the signal handler.
        while not stop.wait(0.5):
            pass
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
