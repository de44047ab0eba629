"""StackFlow: a Lambda-native deployer and PostgreSQL migration patcher."""

__version__ = "0.1.0"
