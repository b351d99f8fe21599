"""outdial: outbound-call API on AWS serverless."""
