"""StackFlow's CDK app: ``python -m infra.app`` synthesizes ``cdk.out/``."""
