"""Sandbox exceptions (the harness maps them to exit code 3)."""


class SandboxUnavailable(RuntimeError):
    """The requested backend cannot run here (no bwrap, no Docker engine, no image)."""
