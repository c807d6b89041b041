"""Exceptions that map onto the CLI's exit codes (DESIGN.md): 2 bad input, 3 infrastructure."""

from __future__ import annotations


class HarnessError(Exception):
    """Base class; ``exit_code`` is what the CLI returns for it."""

    exit_code = 1


class UsageError(HarnessError):
    """Bad input or usage: the user can fix it (exit 2, one line, no traceback)."""

    exit_code = 2


class InfraError(HarnessError):
    """The sandbox or a model could not run (exit 3)."""

    exit_code = 3


class GateFailed(HarnessError):
    """A release gate check failed (exit 1)."""

    exit_code = 1
