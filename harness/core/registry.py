"""One registry type for everything a user picks by name (after lm-evaluation-harness's registry).

Entries are either objects or ``"module:attribute"`` strings imported on first use, so the
command line can list every choice (``--help``, argparse ``choices``) without importing torch,
Docker, vLLM or Ray. An unknown name is a usage error (exit 2) that lists what is available.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from harness.core.errors import UsageError

T = TypeVar("T")


class Registry(Generic[T]):
    """Name -> object, resolved lazily; ``kind`` names the thing in error messages."""

    def __init__(
        self, kind: str, entries: dict[str, str | T] | None = None, *, source: str | None = None
    ) -> None:
        self.kind = kind
        self._entries: dict[str, str | T] = dict(entries or {})
        self._help: dict[str, str] = {}
        #: A module whose import registers the entries (decorators next to the objects);
        #: imported on the first read, so declaring the registry here costs nothing.
        self._source = source

    def _load(self) -> None:
        if self._source is not None:
            source, self._source = self._source, None
            importlib.import_module(source)

    def register(self, name: str, target: str | T | None = None, *, help: str = "") -> Any:
        """Add ``name``; without ``target`` it is a decorator for a class or function."""
        if target is None:
            def decorator(obj: T) -> T:
                self.register(name, obj, help=help)
                return obj

            return decorator
        if name in self._entries and self._entries[name] is not target:
            existing = self._entries[name]
            if not (isinstance(existing, str) and not isinstance(target, str)):
                raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = target
        if help:
            self._help[name] = help
        return target

    def unregister(self, name: str) -> None:
        """Remove ``name`` (a plug-in or a test taking back what it added)."""
        self._entries.pop(name, None)
        self._help.pop(name, None)

    def get(self, name: str) -> T:
        self._load()
        if name not in self._entries:
            raise UsageError(f"unknown {self.kind} {name!r}; available: {', '.join(self._entries)}")
        target = self._entries[name]
        if isinstance(target, str):
            module, _, attr = target.partition(":")
            obj = getattr(importlib.import_module(module), attr)
            self._entries[name] = obj
            return obj  # type: ignore[no-any-return]
        return target

    __getitem__ = get

    def names(self) -> list[str]:
        self._load()
        return list(self._entries)

    def values(self) -> list[T]:
        """Every entry, resolved, in registration order."""
        self._load()
        return [self.get(n) if isinstance(t, str) else t for n, t in self._entries.items()]

    def items(self) -> list[tuple[str, T]]:
        return [(name, self.get(name)) for name in self.names()]

    def help(self, name: str) -> str:
        self._load()
        return self._help.get(name, "")

    def choices_help(self) -> str:
        """``a, b or c`` for an option's help text."""
        names = self.names()
        return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        self._load()
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"


#: Benchmarks by their command-line name: loader(data_dir) -> Dataset.
DATASETS: Registry[Callable[..., Any]] = Registry(
    "dataset",
    {
        "humaneval": "harness.data.datasets:load_humaneval",
        "humaneval+": "harness.data.datasets:load_humaneval_plus",
        "mbpp": "harness.data.datasets:load_mbpp",
        "mbpp+": "harness.data.datasets:load_mbpp_plus",
    },
)

#: Sandbox backends (``--backend``): class(jobs=..., limits=..., **options) -> sandbox.Backend.
BACKENDS: Registry[Callable[..., Any]] = Registry(
    "sandbox backend",
    {
        "local": "sandbox.local:LocalBackend",
        "docker": "sandbox.docker_backend:DockerBackend",
        "ray": "harness.execution.ray_backend:RayBackend",
    },
)

#: Generation engines (``--engine``): harness.generation.engine.Engine subclasses.
ENGINES: Registry[Any] = Registry(
    "generation engine",
    {
        "transformers": "harness.generation.backend:TransformersEngine",
        "vllm": "harness.generation.vllm_engine:VllmEngine",
        "openai": "harness.generation.openai_engine:OpenAIEngine",
    },
)

#: Prompt templates (generate/eval ``--template``, train ``--template``): one set for generation
#: and training, registered by ``harness.generation.templates``.
TEMPLATES: Registry[Any] = Registry("template", source="harness.generation.templates")

#: Distillation methods (train ``--method``): ``harness.train.methods.MethodSpec`` by name.
METHODS: Registry[Any] = Registry("method", source="harness.train.methods")

#: Metamorphic relations (``--metamorphic-relations``, ``transforms``): Relation instances,
#: registered by ``@harness.metamorphic.register``.
RELATIONS: Registry[Any] = Registry("relation", source="harness.metamorphic")

#: Taxonomy rules, in the order they are tried: ``harness.taxonomy.Rule`` by rule name.
TAXONOMY_RULES: Registry[Any] = Registry("taxonomy rule", source="harness.taxonomy")


def make_backend(name: str, **options: Any) -> Any:
    """Start the sandbox backend registered as ``name``."""
    return BACKENDS.get(name)(**options)


__all__ = [
    "BACKENDS",
    "DATASETS",
    "ENGINES",
    "METHODS",
    "RELATIONS",
    "TAXONOMY_RULES",
    "TEMPLATES",
    "Registry",
    "make_backend",
]
