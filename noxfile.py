"""Developer sessions: tests, lint, typecheck, docker, bench. Run with ``nox -s NAME``."""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.reuse_existing_virtualenvs = True
PY = "3.11"


def _install(session: nox.Session) -> None:
    session.install("torch==2.13.0")
    session.install("-e", ".[all,dev]")


@nox.session(python=PY)
def tests(session: nox.Session) -> None:
    """The whole suite (docker tests skip where no engine is reachable, gpu tests without CUDA)."""
    _install(session)
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session(python=PY)
def quick(session: nox.Session) -> None:
    """Everything but the slow tests."""
    _install(session)
    session.run("python", "-m", "pytest", "-m", "not slow", *session.posargs)


@nox.session(python=PY)
def docker(session: nox.Session) -> None:
    """Docker-marked tests (needs a running engine and the sandbox image)."""
    _install(session)
    session.run("python", "-m", "pytest", "-m", "docker", *session.posargs)


@nox.session(python=PY, venv_backend="none")
def lint(session: nox.Session) -> None:
    session.run("ruff", "check", "harness", "sandbox", "tests", "bench", "noxfile.py")
    # Layers one way: no import cycle in harness/sandbox, sandbox never imports harness.
    session.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_layers.py")


@nox.session(python=PY, venv_backend="none")
def typecheck(session: nox.Session) -> None:
    session.run("mypy", "harness", "sandbox")


@nox.session(python=PY, venv_backend="none")
def bench(session: nox.Session) -> None:
    """Benchmarks: each prints its figures and the ratio against a baseline measured in the same run."""
    args = session.posargs or ["execute"]
    scripts = {
        "execute": ["bench/bench_execute.py", "--floor"],
        "docker": ["bench/bench_docker.py"],
        "ray": ["bench/bench_ray.py"],
        "generate": ["bench/bench_generate.py"],
        "train": ["bench/bench_train.py"],
    }
    for name in args:
        session.run("python", *scripts[name])
