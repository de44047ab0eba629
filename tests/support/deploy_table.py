"""The deploy table's key schema, as the CDK app creates it, for moto-backed tests."""

from __future__ import annotations

from typing import Any


def create_deploy_table(ddb: Any, name: str) -> None:
    """Create ``name`` with the deploy table's keys (``pk`` hash, ``sk`` range)."""
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                {"AttributeName": "sk", "KeyType": "RANGE"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                           {"AttributeName": "sk", "AttributeType": "S"}])
