"""StackFlowDatabaseRoles: creates StackFlow's PostgreSQL roles when the database stack
deploys (a CloudFormation custom resource).

CloudFormation invokes it on Create and Update (the roles' SQL changed, or a secret);
it connects as the cluster's master user (``DB_SECRET_ARN``), creates or updates
``stackflow_migrator`` and ``stackflow_reader`` with the passwords their own secrets
hold (``DB_MIGRATOR_SECRET_ARN``, ``DB_READER_SECRET_ARN``) and answers CloudFormation.
On Delete the roles stay: they own the application's tables. Every request is
answered, a failure as ``FAILED`` with the error type and its (password-free) message,
so a failed deploy rolls back instead of waiting an hour for an answer.
"""

from __future__ import annotations

from typing import Any

from stackflow import env
from stackflow.adapters.custom_resource import (
    FAILED,
    SUCCESS,
    CustomResourceRequest,
    parse_request,
    response_body,
    send_response,
)
from stackflow.errors import StackFlowError
from stackflow.handlers import Failure, Handler, lambda_handler
from stackflow.lambda_context import LambdaContextLike
from stackflow.observability import get_logger
from stackflow.roles import MIGRATOR_ROLE, READER_ROLE, RoleLogins
from stackflow.settings import env_required

SERVICE = "database-roles"
PHYSICAL_ID = "stackflow-database-roles"
logger = get_logger(SERVICE)


def _call(event: Any, context: LambdaContextLike) -> dict[str, Any]:
    """Parse -> act -> answer CloudFormation (always)."""
    request = parse_request(event)
    status, reason = _outcome(request)
    body = response_body(request, status=status, reason=reason,
                         physical_resource_id=request.physical_resource_id or PHYSICAL_ID)
    send_response(request.response_url, body)
    return {"status": status, "reason": reason}


def _outcome(request: CustomResourceRequest) -> tuple[str, str]:
    if request.request_type == "Delete":
        return SUCCESS, "roles kept: they own the application's tables"
    try:
        ensure_roles_from_secrets()
    except StackFlowError as e:
        return FAILED, f"{e.error_type}: {e.message}"
    except Exception as e:  # any bug still answers, or the stack waits an hour
        logger.exception("database roles failed")
        return FAILED, f"internal error ({type(e).__name__}); see the function's log"
    return SUCCESS, f"{MIGRATOR_ROLE} and {READER_ROLE} are in place"


def ensure_roles_from_secrets() -> None:
    """The one core call, with every input read from the three secrets."""
    from stackflow.adapters.postgres_roles import ensure_roles
    from stackflow.adapters.secrets import database_url, secret_password

    admin_url = database_url(env_required(env.DB_SECRET_ARN), refresh=True)
    ensure_roles(admin_url, RoleLogins(
        migrator_password=secret_password(env_required(env.DB_MIGRATOR_SECRET_ARN)),
        reader_password=secret_password(env_required(env.DB_READER_SECRET_ARN))))


def _report(result: dict[str, Any], seconds: float) -> dict[str, Any]:
    logger.info("database roles answered", extra={**result, "seconds": round(seconds, 3)})
    return result


handler: Handler = lambda_handler(SERVICE, _call, _report,
                                  failure=Failure("database roles could not answer"))
