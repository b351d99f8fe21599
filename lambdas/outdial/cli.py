"""The `outdial` command: `outdial config apply FILE`, `outdial serve`, the operator commands
(`balance`, `secret`, `dial-queue`), webhook secrets and redrive, `outdial doctor`."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path

from outdial import cli_webhooks, operator_commands
from outdial.logic.configure import ConfigInvalid, apply_config, check_config, read_config_file


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="outdial", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    config = commands.add_parser("config", help="configuration of accounts, flows and gateways")
    config_commands = config.add_subparsers(dest="config_command", required=True)
    apply = config_commands.add_parser(
        "apply", help="validate FILE and write it to the config table boto3 points at"
    )
    apply.add_argument("file", type=Path)
    check = config_commands.add_parser("check", help="validate FILE without writing anything")
    check.add_argument("file", type=Path)

    serve = commands.add_parser("serve", help="run the whole service locally on 127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--config", type=Path, help="configuration file (default: a demo)")

    doctor = commands.add_parser(
        "doctor", help="pre-flight for a deploy: credentials, region, bootstrap, quotas"
    )
    doctor.add_argument(
        "--cdk-json", type=Path, default=Path("cdk.json"), help="the stack's context (cdk.json)"
    )

    cli_webhooks.add_commands(commands)
    operator_commands.register(commands)

    args = parser.parse_args(argv)
    if args.command == "doctor":
        return _doctor(args.cdk_json)
    if getattr(args, "run", None) is not None:
        return int(args.run(args))
    if args.command == "config":
        return _config(args.config_command, args.file)
    if args.command in ("webhook-secret", "webhooks"):
        return cli_webhooks.run(args)
    return _serve(args.port, args.config)


def _config(command: str, file: Path) -> int:
    try:
        checked = read_config_file(file)
    except ConfigInvalid as invalid:
        print(
            f"{file}: refused, nothing written ({len(invalid.problems)} problems):", file=sys.stderr
        )
        for problem in invalid.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    for warning in checked.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if command == "apply":
        applied = apply_config(checked)
        for warning in applied.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        print(f"{file}: applied ({applied.written} items)")
    else:
        print(f"{file}: valid")
    return 0


def _doctor(cdk_json: Path) -> int:
    from outdial.doctor import run

    return run(cdk_json)


def _serve(port: int, config_file: Path | None) -> int:
    from outdial.local.demo import DEMO_FLOW_ID, DEMO_SECURITY_ID, demo_config, demo_curl
    from outdial.local.runtime import LocalRuntime

    try:
        checked = read_config_file(config_file) if config_file else check_config(demo_config())
    except ConfigInvalid as invalid:
        print("\n".join(invalid.problems), file=sys.stderr)
        return 1
    runtime = LocalRuntime(checked, port=port).start()
    assert runtime.api is not None and runtime.aws is not None
    banner = {
        "message": "outdial serving",
        "url": runtime.api.url,
        "aws-endpoint": runtime.aws.endpoint,
        "workers": [repr(worker) for worker in runtime.workers or []],
    }
    if config_file is None:
        banner |= {"demo-flow-id": DEMO_FLOW_ID, "demo-security-id": DEMO_SECURITY_ID}
    print(json.dumps(banner), flush=True)
    if config_file is None:
        print(f"try:\n{demo_curl(runtime.api.url)}", flush=True)

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    runtime.stop()
    print(json.dumps({"message": "outdial stopped"}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
