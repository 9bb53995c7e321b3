"""Run every mock department: `python -m mocks --secret-file F [--host H] [--base-port 18000]
[--fault identity=error_rate:0.5 ...]`.

Department n listens on base-port + n (identity 18001 ...), matching the node's defaults.
Faults (see mocks/faults.py) can be set at start with --fault and changed at run time with
`POST /_admin/faults` on each department.
"""
from __future__ import annotations

import argparse
import asyncio
import signal
import ssl
from pathlib import Path

from pydantic import ValidationError

from mocks.departments import DEPARTMENTS, build_departments
from querynode.fault_plan import FaultPlan, parse_cli_fault
from mocks.population import SEED


async def serve(args: argparse.Namespace) -> None:
    secret = Path(args.secret_file).read_text().strip()
    departments = build_departments(secrets={args.app_id: secret}, size=args.size, seed=args.seed)
    for _, dept in departments:
        if dept.name in args.faults:
            dept.faults.set(args.faults[dept.name])
            print(f"mock {dept.name:<18} faults {args.faults[dept.name].model_dump(exclude_defaults=True)}")
    tls = None
    if args.tls_cert:  # HTTPS with a certificate of the demo CA (querynode demo makes one)
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.tls_cert, args.tls_key)
    for offset, dept in departments:
        port = await dept.start(args.host, args.base_port + offset, ssl_context=tls)
        print(f"mock {dept.name:<18} {dept.scheme}://{args.host}:{port}", flush=True)
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
    parser.add_argument("--tls-cert", help="serve HTTPS with this certificate (PEM)")
    parser.add_argument("--tls-key", help="private key of --tls-cert (PEM)")
    parser.add_argument("--fault", action="append", default=[], metavar="DEPARTMENT=FIELD:VALUE",
                        help="inject a fault, e.g. identity=error_rate:0.5 or death=latency:exponential:200 "
                             "(repeatable; fields in mocks/faults.py)")
    args = parser.parse_args()
    args.faults = _fault_plans(parser, args.fault)
    asyncio.run(serve(args))


def _fault_plans(parser: argparse.ArgumentParser, specs: list[str]) -> dict[str, FaultPlan]:
    names = {module.rsplit(".", 1)[1] for _, module, _ in DEPARTMENTS}
    fields: dict[str, dict] = {}
    try:
        for spec in specs:
            department, field = parse_cli_fault(spec)
            if department not in names:
                raise ValueError(f"unknown department {department!r}; one of {', '.join(sorted(names))}")
            fields.setdefault(department, {}).update(field)
        return {department: FaultPlan.model_validate(f) for department, f in fields.items()}
    except (ValueError, ValidationError) as exc:
        parser.error(str(exc))


if __name__ == "__main__":
    main()
