"""outdial's AWS deployment in CDK: `stack.py` composes one construct per capability."""
