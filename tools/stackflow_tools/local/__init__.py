"""Local mode: StackFlow on one machine (embedded PostgreSQL, moto, in-process Lambda).

Development only; nothing under here is imported by a Lambda handler.
"""
