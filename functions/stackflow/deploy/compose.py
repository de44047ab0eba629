"""Building the deploy steps' ``Deps`` from settings: the edge where adapters are chosen.

Adapters are imported inside the function, so importing a step handler never loads
boto3. Each adapter builds its client on the first call that needs one: the
process-wide clients of ``stackflow.adapters``, except the smoke invoker's, which is
built for its run.
"""

from __future__ import annotations

from stackflow.deploy.deps import DeploySettings, Deps


def build_deps(settings: DeploySettings) -> Deps:
    """Deps for one call: the production adapters, real time (no client built yet)."""
    from stackflow.adapters.cloudwatch import CloudWatchAlarms
    from stackflow.adapters.dynamodb import DynamoDeployStore
    from stackflow.adapters.lambda_ import LambdaFunctions, LambdaInvoker
    from stackflow.adapters.rds import ClusterSnapshots
    from stackflow.adapters.s3 import get_object_bytes
    from stackflow.adapters.stepfunctions import ExecutionStatuses

    return Deps(settings=settings, functions=LambdaFunctions(), invoker=LambdaInvoker(),
                store=DynamoDeployStore(settings.table), alarms=CloudWatchAlarms(),
                read_object=get_object_bytes, executions=ExecutionStatuses(),
                snapshots=ClusterSnapshots())
