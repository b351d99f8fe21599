"""What the command line says when something fails: one line, and a hint of what to do."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from botocore.exceptions import ClientError


class UsageError(Exception):
    """The command was given something it cannot work with (exit code 2, like argparse)."""


@dataclass
class CliError(Exception):
    """A failure to report as ``outdial: error: <message> (hint: <hint>)``, exit code 1."""

    message: str
    hint: str = ""

    def __str__(self) -> str:
        return self.message

    def line(self) -> str:
        return f"outdial: error: {self.message}" + (f" (hint: {self.hint})" if self.hint else "")


_CREDENTIAL_CODES = {
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "InvalidSignatureException",
    "ExpiredToken",
    "ExpiredTokenException",
    "SignatureDoesNotMatch",
}
_DENIED_CODES = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception and what it was raised from (adapters wrap botocore's errors in ours)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _region() -> str:
    return os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or "?"


def describe(exc: BaseException) -> CliError:
    """The readable line for ``exc``: AWS failures get a hint of what to set or check."""
    for cause in _causes(exc):
        if isinstance(cause, CliError):
            return cause
        described = _describe_aws(cause)
        if described is not None:
            return described
    return CliError(
        f"{type(exc).__name__}: {exc}", "run again with --debug to see where it happened"
    )


def _describe_aws(exc: BaseException) -> CliError | None:
    # Imported here: a command that does not use AWS (calls submit) loads botocore only to
    # describe a failure.
    from botocore.exceptions import (
        ClientError,
        ConnectionClosedError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
        ProfileNotFound,
    )
    from botocore.exceptions import ConnectTimeoutError as AwsConnectTimeout
    from botocore.exceptions import ReadTimeoutError as AwsReadTimeout

    if isinstance(exc, NoRegionError):
        return CliError(
            "no AWS region is set",
            "export AWS_REGION=<the stack's region>, e.g. AWS_REGION=ap-south-1",
        )
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return CliError(
            "no AWS credentials found",
            "set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run `aws sso login`",
        )
    if isinstance(exc, ProfileNotFound):
        return CliError(str(exc), "check AWS_PROFILE against ~/.aws/config")
    if isinstance(exc, EndpointConnectionError | AwsConnectTimeout | ConnectionClosedError):
        endpoint = os.environ.get("AWS_ENDPOINT_URL", "")
        return CliError(
            f"cannot reach the AWS endpoint: {exc}",
            f"AWS_ENDPOINT_URL is {endpoint}: is that server running?"
            if endpoint
            else f"check the network and the region ({_region()})",
        )
    if isinstance(exc, AwsReadTimeout):
        return CliError(f"AWS did not answer in time: {exc}", "try again")
    if isinstance(exc, ClientError):
        return _describe_client_error(exc)
    return None


def _describe_client_error(exc: ClientError) -> CliError:
    error = exc.response.get("Error", {})
    code, text = error.get("Code", ""), error.get("Message", "")
    operation = exc.operation_name
    if code in _CREDENTIAL_CODES:
        return CliError(
            f"AWS refused the credentials ({code}): {text}",
            "refresh them (e.g. `aws sso login`) or check AWS_PROFILE",
        )
    if code in _DENIED_CODES:
        return CliError(
            f"AWS denied {operation}: {text}",
            "these credentials lack the permission; use the deploying role or an admin profile",
        )
    if code == "ResourceNotFoundException":
        from outdial.settings import get_settings

        settings = get_settings()
        return CliError(
            f"{operation}: {text or 'resource not found'} in region {_region()} "
            f"(config table {settings.config_table!r}, calls table {settings.calls_table!r})",
            "pass --stack Outdial (the deployed stack's name) or set OUTDIAL_CONFIG_TABLE, "
            "and check the region",
        )
    return CliError(f"AWS answered {code} to {operation}: {text}", "run with --debug for more")
