"""StackFlow's operator and CI tooling: the ``stackflow`` CLI, local mode and the release path.

Nothing here ships to Lambda: the asset root is ``functions/``, and this package sits
beside it. It imports the runtime core (``stackflow``); the core never imports it.
"""
