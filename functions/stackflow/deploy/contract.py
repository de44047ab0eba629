"""The contract phase in the record: a release promoted with its contract migrations
still pending (``MigrateContract`` failed after Promote).

The code is fine and the schema is still in its expanded form, so the release stays
promoted; the record says ``SUCCEEDED_WITH_PENDING_CONTRACT`` and why, and the next
release (its Migrate applies an earlier release's pending contract migrations first) or
``stackflow migrate --phase contract`` finishes it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

SUCCEEDED_WITH_PENDING_CONTRACT = "SUCCEEDED_WITH_PENDING_CONTRACT"
FINISH_WITH = "stackflow migrate --phase contract"


def contract_fields(doc: Mapping[str, Any],
                    describe: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    """On a successful release: the pending-contract status when MigrateContract failed,
    and what it applied when it ran."""
    error = doc.get("migrate_contract_error")
    if error is not None:
        return {"status": SUCCEEDED_WITH_PENDING_CONTRACT,
                "contract": {"error": describe(error), "finish_with": FINISH_WITH}}
    result = doc.get("migrate_contract")
    if isinstance(result, Mapping) and isinstance(result.get("applied"), list):
        return {"contract": {"applied": [a.get("version") for a in result["applied"]
                                         if isinstance(a, Mapping)]}}
    return {}
