"""Where the command line's AWS calls go: the region, and a deployed stack's resource names."""

from __future__ import annotations

import os
import sys

from outdial.cli.errors import CliError

STACK_ENV = "OUTDIAL_STACK"


def prepare_region() -> None:
    """``AWS_REGION`` wins, as on Lambda and in the other AWS SDKs; botocore itself reads only
    ``AWS_DEFAULT_REGION`` (and would otherwise fall back to the profile's region)."""
    region = os.environ.get("AWS_REGION")
    if region and os.environ.get("AWS_DEFAULT_REGION") != region:
        os.environ["AWS_DEFAULT_REGION"] = region
        # A client made before would stay in the other region (none was, in a fresh process).
        made = sys.modules.get("outdial.adapters.aws")
        if made is not None:
            made.reset_clients()


def stack_outputs(stack: str) -> dict[str, str]:
    """The deployed stack's outputs, by output key."""
    from botocore.exceptions import ClientError

    from outdial.adapters import aws

    try:
        answer = aws.client("cloudformation").describe_stacks(StackName=stack)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ValidationError":
            region = os.environ.get("AWS_DEFAULT_REGION", "?")
            raise CliError(
                f"no stack {stack!r} in region {region}",
                "check the name (`make deploy` creates Outdial) and AWS_REGION",
            ) from exc
        raise
    (found,) = answer["Stacks"]
    return {o["OutputKey"]: o["OutputValue"] for o in found.get("Outputs", [])}


def use_stack(stack: str | None) -> None:
    """Point this process's settings at the resources of ``stack`` (or ``$OUTDIAL_STACK``).

    Each output of ``STACK_OUTPUTS`` sets the ``OUTDIAL_*`` variable the settings read, so the
    adapters find the deployed tables and queues without hand-exported names.
    """
    stack = stack or os.environ.get(STACK_ENV)
    if not stack:
        return
    from outdial.contract import STACK_OUTPUTS
    from outdial.settings import get_settings

    outputs = stack_outputs(stack)
    missing = sorted(key for key in STACK_OUTPUTS if key not in outputs)
    if missing:
        raise CliError(
            f"stack {stack!r} has no output {', '.join(missing)}",
            "deploy this version of outdial (`make deploy`) to add it",
        )
    for key, variable in STACK_OUTPUTS.items():
        os.environ[variable] = outputs[key]
    get_settings.cache_clear()
