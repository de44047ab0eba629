"""The ``stackflow`` command line."""
