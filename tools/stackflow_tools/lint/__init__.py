"""``stackflow lint``: StackFlow's own migration rules, plus squawk's, over a folder.

CLI and CI only (squawk is a native binary, never in a Lambda zip). ``rules.py`` holds
StackFlow's rules (pure), ``squawk.py`` runs squawk as a subprocess, ``config.py`` reads
``[tool.stackflow.lint]``, ``render.py`` prints text, JSON or GitHub annotations.
"""
