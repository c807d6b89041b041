#!/usr/bin/env bash
# CI: make a Docker engine and the sandbox image available for the docker-marked tests.
#
# 1. start dockerd when no engine answers (no bridge, no iptables: sandbox containers use
#    network "none", and CI machines often cannot program iptables);
# 2. build the offline base image (sandbox/build_base.sh) unless it exists;
# 3. build the sandbox image FROM it unless an image with the same content label exists
#    (a hash of the Dockerfile, runner.py and the candidate packages), so re-runs reuse it.
# Exports nothing: the tests find the image by its default tag.
set -euo pipefail
cd "$(dirname "$0")/.."

BASE_IMAGE="${HARNESS_BASE_IMAGE:-distill-harness/base:bookworm}"
TAG="${HARNESS_SANDBOX_IMAGE:-distill-harness/sandbox:latest}"
LOG="${DOCKERD_LOG:-/tmp/dockerd-ci.log}"

if ! docker info >/dev/null 2>&1; then
  if ! command -v dockerd >/dev/null 2>&1; then
    echo "ci-docker: dockerd is not installed" >&2
    exit 1
  fi
  echo "ci-docker: starting dockerd (log: $LOG)"
  nohup dockerd --bridge=none --iptables=false >"$LOG" 2>&1 &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  if ! docker info >/dev/null 2>&1; then
    echo "ci-docker: dockerd did not come up; last log lines:" >&2
    tail -n 20 "$LOG" >&2 || true
    exit 1
  fi
fi

if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  bash sandbox/build_base.sh "$BASE_IMAGE"
fi

# The value `harness sandbox build` labels the image with (Dockerfile, runner, candidate packages).
HASH="$(python3 -c 'from sandbox.docker_backend import content_hash; print(content_hash())')"
current="$(docker image inspect "$TAG" --format '{{index .Config.Labels "distill-harness.content"}}' 2>/dev/null || true)"
if [ "$current" = "$HASH" ]; then
  echo "ci-docker: reusing $TAG (content $HASH)"
  exit 0
fi
existing="$(docker images --filter "label=distill-harness.content=$HASH" --format '{{.ID}}' | head -n 1)"
if [ -n "$existing" ]; then
  echo "ci-docker: tagging image $existing (content $HASH) as $TAG"
  docker tag "$existing" "$TAG"
  exit 0
fi

echo "ci-docker: building $TAG FROM $BASE_IMAGE (content $HASH)"
python3 -m harness sandbox build --base-image "$BASE_IMAGE" --tag "$TAG" --quiet
docker tag "$TAG" "distill-harness/sandbox:$HASH"
