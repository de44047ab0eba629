"""Infrastructure changes that cannot destroy data by accident (``stackflow infra``).

Pure core: ``stateful`` (the one list of data-holding types), ``schemas`` (create-only
properties from cfn-lint's resource schemas), ``predict`` (offline: a change set
predicted from two templates), ``classify`` (destructive or not, allowed or not),
``plan`` (backups, then change sets), ``render``. Edges: ``assembly`` and ``synth``
(the CDK cloud assembly, of the working tree or a git ref), ``changesets``,
``publish`` and ``backups`` (the AWS calls), ``service`` (the use cases) and
``compose`` (wires them from boto3).
"""
