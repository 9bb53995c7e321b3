"""Run every mock department: `python -m mocks --secret-file F [--host H] [--base-port 18000]
[--fault identity=error_rate:0.5 ...] [--relay-keys DIR --manifest FILE]`.

Department n listens on base-port + n (identity 18001 ...), matching the node's defaults.
With --relay-keys (the folder the relays' key files are in: bjjk-private-key.pem, bjjk.json,
sjpt.json, gjpt.json), the three mock relays listen too, carrying every department that says which
services it answers (`answers()`): the 部级接口 gateway on base-port + 20, the provincial platform on
+ 21, the national platform on + 22. --manifest then names, in JSON, each relay's url and each
carried department's services, for the node to configure itself by.
Faults (see mocks/faults.py) can be set at start with --fault and changed at run time with
`POST /_admin/faults` on each department.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import signal
import ssl
from pathlib import Path

from pydantic import ValidationError

from mocks.departments import DEPARTMENTS, build_departments
from mocks.relays import manifest, relays_over
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
    relays = relays_over([dept for _, dept in departments], Path(args.relay_keys)) if args.relay_keys else {}
    for offset, (kind, relay) in enumerate(relays.items(), start=RELAY_PORT_OFFSET):
        port = await relay.start(args.host, args.base_port + offset, ssl_context=tls)
        print(f"mock relay {kind:<12} {relay.scheme}://{args.host}:{port}  carries {', '.join(sorted(relay.handlers))}",
              flush=True)
    if args.manifest:
        Path(args.manifest).write_text(json.dumps(manifest([d for _, d in departments], relays, args.host), ensure_ascii=False, indent=2),
                                       encoding="utf-8")
    print("mocks ready", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for relay in relays.values():
        await relay.stop()
    for _, dept in departments:
        await dept.stop()


RELAY_PORT_OFFSET = 20  # gateway, provincial, national on base-port + 20, 21, 22


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
    parser.add_argument("--relay-keys", help="run the mock relays with the key files in this folder")
    parser.add_argument("--manifest", help="write the relays' urls and the departments they carry here (JSON)")
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
