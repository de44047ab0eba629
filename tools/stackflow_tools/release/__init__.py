"""Release tooling that runs on a developer's machine or in CI, never inside Lambda.

``package`` builds the reproducible deployment zips (``make package``); ``pipeline``
hands an artifact to the deployment state machine and follows the execution.
"""
