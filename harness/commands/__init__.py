"""The sub-commands: each parses its options and makes one call into the library API."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")


def config_from_args(cls: type[T], args: argparse.Namespace, **overrides: Any) -> T:
    """``cls`` (a config dataclass) from the options named like its fields, then ``overrides``.

    Options carry the names of the API's config fields (the command line is a thin layer over the
    API), so this is the one map from parsed arguments to a config."""
    names = [f.name for f in dataclasses.fields(cls) if f.init and f.name not in overrides]  # type: ignore[arg-type]
    return cls(**{n: getattr(args, n) for n in names if hasattr(args, n)}, **overrides)
