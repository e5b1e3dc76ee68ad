#!/usr/bin/env bash
# The image the Docker builder's tests build in (tests/test_bundle.py passes it with image=).
#
# The real default is AWS SAM's build image (public.ecr.aws/sam/build-python3.X), which cannot be pulled here, so
# this script makes a stand-in: a Debian bookworm root filesystem (python3, pip, gcc, the Python headers) made with
# debootstrap and imported with `docker import`. It runs Python 3.11 on glibc 2.36, newer than Lambda's (2.26 on
# Amazon Linux 2, 2.34 on AL2023): what it builds is for the tests only, never for a real upload.
#
# Installs Debian's docker.io and debootstrap when missing, starts dockerd when no engine answers (and waits until
# `docker info` does), then builds the image unless it exists. Every step has a time limit. Exits non-zero when the
# engine cannot be started or the image cannot be built; .ci/run tolerates that and the Docker tests skip with the
# reason.
set -euo pipefail

IMAGE="${CLOUDORM_BUILD_IMAGE:-cloudorm/lambda-build:python3.11}"
LOG_DIR="${TMPDIR:-/tmp}"

engine_answers() { timeout 10 docker info >/dev/null 2>&1; }

missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
if [ "${#missing[@]}" -gt 0 ]; then
  timeout 300 apt-get update -qq
  DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! engine_answers; then
  echo "starting dockerd (log: $LOG_DIR/cloudorm-dockerd.log)"
  # Its own session: it outlives this script and a `timeout` around it (the tests use it afterwards).
  setsid nohup dockerd >"$LOG_DIR/cloudorm-dockerd.log" 2>&1 </dev/null &
  deadline=$((SECONDS + 60))
  until engine_answers; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "dockerd did not answer within 60 s; see $LOG_DIR/cloudorm-dockerd.log" >&2
      exit 1
    fi
    sleep 2
  done
fi

if ! timeout 10 docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "building $IMAGE with debootstrap (about a minute)"
  ROOTFS="$(mktemp -d "$LOG_DIR/cloudorm-rootfs.XXXXXX")"
  trap 'rm -rf "$ROOTFS"' EXIT
  trap 'exit 1' INT TERM
  timeout 900 debootstrap --variant=minbase --include=python3,python3-pip,python3-dev,gcc,libc6-dev bookworm \
    "$ROOTFS" >"$LOG_DIR/cloudorm-debootstrap.log" 2>&1 \
    || { echo "debootstrap failed or took over 15 min; see $LOG_DIR/cloudorm-debootstrap.log" >&2; exit 1; }
  tar -C "$ROOTFS" -c . | timeout 600 docker import - "$IMAGE" >/dev/null
fi
echo "docker image $IMAGE is ready"
