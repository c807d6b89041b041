"""``harness sandbox build``: build the Docker sandbox image (see sandbox/docker_backend.py)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

DEFAULT_TAG = "distill-harness/sandbox:latest"
DEFAULT_BASE = "python:3.11-slim"


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "sandbox", help="manage the Docker sandbox image",
        description="Manage the Docker image that `--backend docker` runs samples in.")
    actions = p.add_subparsers(dest="sandbox_command", metavar="ACTION")
    b = actions.add_parser(
        "build", help="build the sandbox image through the Docker engine",
        description="Build the sandbox image: the stdlib-only runner on a Python base image, a non-root "
                    "user, nothing else. Without a registry, build an offline base first with "
                    "`bash sandbox/build_base.sh` and pass --base-image distill-harness/base:bookworm.")
    b.add_argument("--base-image", default=DEFAULT_BASE, metavar="IMAGE", help=f"base image with python3 >= 3.10 (default {DEFAULT_BASE})")
    b.add_argument("--tag", default=DEFAULT_TAG, metavar="TAG", help=f"tag of the built image (default {DEFAULT_TAG})")
    b.add_argument("--extra-pip", default="", metavar="PKGS",
                   help="space-separated packages to pip-install into the image (needs a package registry)")
    b.add_argument("--quiet", action="store_true", help="print only the result")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from harness.core.errors import InfraError, UsageError
    from sandbox.errors import SandboxUnavailable

    if getattr(args, "sandbox_command", None) != "build":
        raise UsageError("missing action: harness sandbox build [--base-image IMAGE] [--tag TAG] [--extra-pip PKGS]")
    if not args.tag.strip() or not args.base_image.strip():
        raise UsageError("--tag and --base-image must not be empty")
    from sandbox.docker_backend import build_image, content_hash

    def log(line: str) -> None:
        if not args.quiet:
            print(line, file=sys.stderr, flush=True)

    try:
        image_id = build_image(args.base_image, args.tag, args.extra_pip.strip(), log=log)
    except SandboxUnavailable as exc:
        raise InfraError(str(exc)) from None
    print(f"built {args.tag} ({image_id[:19]}, content {content_hash()}) from {args.base_image}")
    return 0
