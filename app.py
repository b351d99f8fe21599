#!/usr/bin/env python3
"""CDK entry point (`make synth`, `make deploy`): the outdial stack, checked by cdk-nag."""

from aws_cdk import App

from infra.stack import build

app = App()
build(app)
app.synth()
