"""Run every mock department: `python -m mocks --secret-file F [--host H] [--base-port 18000]`.

Department n listens on base-port + n (identity 18001 ...), matching the node's defaults.
"""
from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path

from mocks.departments import build_departments
from mocks.population import SEED


async def serve(args: argparse.Namespace) -> None:
    secret = Path(args.secret_file).read_text().strip()
    departments = build_departments(secrets={args.app_id: secret}, size=args.size, seed=args.seed)
    for offset, dept in departments:
        port = await dept.start(args.host, args.base_port + offset)
        print(f"mock {dept.name:<18} http://{args.host}:{port}", flush=True)
    print("mocks ready", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for _, dept in departments:
        await dept.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m mocks", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--base-port", type=int, default=18000)
    parser.add_argument("--secret-file", required=True)
    parser.add_argument("--app-id", default="querynode")
    parser.add_argument("--size", type=int, default=2000, help="population size")
    parser.add_argument("--seed", type=int, default=SEED)
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
