"""Credentials: Secrets Manager names the functions may read, and the gateways' secrets.

Two families, each readable only by the functions that need it:
- ``outdial/<stack>/gateways/<gateway-id>``: an http gateway's ``{"token", "event-secret"}``
  (api checks the gateway's outcome events with it; the dialer places legs with it);
- ``outdial/<stack>/flows/<flow-id>``: a flow's ``{"security-id"}``, written by
  ``outdial config apply`` (the webhook sender signs with it);
- ``outdial/<stack>/accounts/<account-id>``: an account's webhook signing secrets, written by
  ``outdial webhook-secret rotate`` (the webhook sender signs with them instead, when there).

One secret holds a gateway's token and its event secret (and a carrier such as Twilio signs its
callbacks with the account's auth token itself), so the api's grant covers the whole gateway
secret, not its event secret alone.
"""

from __future__ import annotations

import json

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra import constants as c
from infra.nag import acknowledge


class Credentials(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, gateway_ids: tuple[str, ...]
    ) -> None:
        super().__init__(scope, construct_id)
        stack_name = Stack.of(self).stack_name
        self.prefix = c.secret_prefix(stack_name)
        self.gateway_prefix = c.gateway_secret_prefix(stack_name)
        self.flow_prefix = c.flow_secret_prefix(stack_name)
        self.account_prefix = c.account_secret_prefix(stack_name)
        self.gateway_secrets = {
            gateway_id: self._gateway_secret(gateway_id) for gateway_id in gateway_ids
        }

    def grant_gateway_secrets(self, function: lambda_.Function) -> None:
        self._grant_prefix(function, self.gateway_prefix, "gateway credentials")

    def grant_flow_secrets(self, function: lambda_.Function) -> None:
        self._grant_prefix(function, self.flow_prefix, "flows' signing keys")

    def grant_account_secrets(self, function: lambda_.Function) -> None:
        self._grant_prefix(function, self.account_prefix, "accounts' webhook signing secrets")

    def _grant_prefix(self, function: lambda_.Function, prefix: str, what: str) -> None:
        pattern = Stack.of(self).format_arn(
            service="secretsmanager",
            resource="secret",
            resource_name=f"{prefix}*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        function.add_to_role_policy(
            iam.PolicyStatement(actions=list(c.SECRET_READ_ACTIONS), resources=[pattern])
        )
        assert function.role is not None
        acknowledge(
            function.role,
            f"IAM5[Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:{prefix}*]",
            f"The {what} are named by configuration applied after deploy (one secret each, and "
            "Secrets Manager appends a random suffix to every ARN), so the grant is the name "
            f"prefix {prefix}, read-only.",
        )

    def _gateway_secret(self, gateway_id: str) -> secretsmanager.Secret:
        secret = secretsmanager.Secret(
            self,
            f"Gateway-{gateway_id}",
            secret_name=f"{self.gateway_prefix}{gateway_id}",
            description=f"outdial http gateway {gateway_id}: bearer token and event HMAC secret",
            # The event secret is generated here and shared with the gateway; the token is the
            # gateway vendor's, put by the operator (an empty token fails loudly until then).
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template=json.dumps({"token": ""}),
                generate_string_key="event-secret",
                exclude_punctuation=True,
                password_length=48,
            ),
        )
        acknowledge(
            secret,
            "SMG4",
            "The token is issued by the telephony gateway's vendor and rotated on their side; "
            "the event secret is shared with the vendor, so a rotation must be coordinated with "
            "them (put-secret-value), not run on a Secrets Manager schedule.",
        )
        return secret
