"""Deploy-step core: strategy math, the steps of a deployment, and its records.

Every step reads the whole deployment document (see ``docs/architecture.md``) and
returns the small result the state machine stores under the step's own key (one type
per key, in :mod:`stackflow.deploy.document`). AWS is reached only through the ports
in :mod:`stackflow.deploy.ports`.
"""
