"""Command line: run the sandbox until SIGINT/SIGTERM.

``python -m airflow_provider_inventory.sandbox [options]`` (or ``inventory-sandbox``) prints

    export INVENTORY_SANDBOX_URL=http://127.0.0.1:PORT
    export AIRFLOW_CONN_PACK_DEFAULT='{...}'
    export AIRFLOW_CONN_COMMERCELAYER_DEFAULT='{...}'

to stdout (for ``eval``), then serves on 127.0.0.1 until interrupted and exits 0.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import threading
from types import FrameType

from .server import Sandbox
from .settings import PACK_BODY_SHAPES, PACK_LINK_STYLES

CACHEABLE_FACTOR = 5


def _rate_limit(text: str) -> tuple[int, int]:
    average, sep, burst = text.partition("/")
    try:
        if not sep:
            raise ValueError(text)
        return int(average), int(burst)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected AVG/BURST such as 200/50, got {text!r}"
        ) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="inventory-sandbox",
        description="Serve a local stand-in for the Pack and Commerce Layer APIs on 127.0.0.1.",
    )
    parser.add_argument("--port", type=int, default=0, help="port (default 0: any free one)")
    parser.add_argument("--seed", type=int, default=0, help="data seed (default 0)")
    parser.add_argument("--serial-numbers", type=int, default=200, help="Pack records")
    parser.add_argument("--products", type=int, default=5, help="Pack products")
    parser.add_argument("--packages", type=int, default=100, help="Commerce Layer packages")
    parser.add_argument("--stock-locations", type=int, default=5, help="stock locations")
    parser.add_argument("--shipments", type=int, default=0, help="Commerce Layer shipments")
    parser.add_argument("--stock-items", type=int, default=0, help="Commerce Layer stock items")
    parser.add_argument(
        "--export-speed", type=float, default=20_000.0, help="export records per second"
    )
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added per request")
    parser.add_argument("--latency-jitter", type=float, default=0.0, help="extra random seconds")
    parser.add_argument("--error-rate", type=float, default=0.0, help="fraction answered 5xx")
    parser.add_argument(
        "--rate-limit",
        type=_rate_limit,
        default=None,
        metavar="AVG/BURST",
        help="Commerce Layer limit for packages per minute / per 10 s "
        f"(stock locations get {CACHEABLE_FACTOR}x); default unlimited",
    )
    parser.add_argument(
        "--token-rate-limit",
        type=int,
        default=30,
        help="/oauth/token requests per minute (0: unlimited; default 30)",
    )
    parser.add_argument("--token-lifetime", type=float, default=7200, help="token lifetime (s)")
    parser.add_argument("--pack-links", choices=PACK_LINK_STYLES, default="absolute")
    parser.add_argument("--pack-body", choices=PACK_BODY_SHAPES, default="flat")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the sandbox until SIGINT or SIGTERM; return the exit status (0)."""
    args = build_parser().parse_args(argv)
    rate_limits: dict[str, tuple[int, ...]] | None = None
    if args.rate_limit is not None:
        average, burst = args.rate_limit
        rate_limits = {
            "uncacheable": (average, burst),
            "cacheable": (average * CACHEABLE_FACTOR, burst * CACHEABLE_FACTOR),
        }
    try:
        sandbox = Sandbox(
            seed=args.seed,
            serial_numbers=args.serial_numbers,
            products=args.products,
            packages=args.packages,
            stock_locations=args.stock_locations,
            pack_link_style=args.pack_links,
            pack_body_shape=args.pack_body,
            token_lifetime=args.token_lifetime,
            rate_limits=rate_limits,
            latency=args.latency,
            latency_jitter=args.latency_jitter,
            error_rate=args.error_rate,
            port=args.port,
            token_rate_limit=args.token_rate_limit or None,
            verbose=args.verbose,
            shipments=args.shipments,
            stock_items=args.stock_items,
            export_speed=args.export_speed,
        )
    except ValueError as exc:
        print(f"inventory-sandbox: {exc}", file=sys.stderr)
        return 2

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        sandbox.start()
        print(f"export INVENTORY_SANDBOX_URL={shlex.quote(sandbox.url)}")
        for name, value in sandbox.connection_env().items():
            print(f"export {name}={shlex.quote(value)}")
        sys.stdout.flush()
        while not stop.wait(0.2):
            pass
    finally:
        sandbox.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
