# shellcheck shell=bash
# Sourced by scripts/dev and scripts/test: installs and starts what Berth and
# its tests need when they are missing — the Docker engine (Debian's docker.io),
# the AWS CLI v2 (Debian's awscli), boto3 (Debian's python3-boto3) and gcc (for
# `go test -race`) — and checks Go.

berth_log() { printf '==> %s\n' "$*" >&2; }

berth_as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

berth_require_go() {
  if ! command -v go >/dev/null 2>&1; then
    berth_log "Go is not installed: install Go $(sed -n 's/^go //p' go.mod) or newer from https://go.dev/dl and re-run."
    exit 1
  fi
}

berth_install_packages() {
  local missing=()
  command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
  command -v docker >/dev/null 2>&1 || missing+=(docker.io)
  /usr/bin/aws --version 2>&1 | grep -q '^aws-cli/2' || missing+=(awscli)
  command -v gcc >/dev/null 2>&1 || missing+=(gcc)
  # The e2e suite runs boto3 with python3 on PATH, else Debian's /usr/bin/python3.
  python3 -c 'import boto3' >/dev/null 2>&1 || /usr/bin/python3 -c 'import boto3' >/dev/null 2>&1 ||
    missing+=(python3-boto3)
  if [ ${#missing[@]} -gt 0 ]; then
    berth_log "installing ${missing[*]} (Debian packages)"
    berth_as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive berth_as_root apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

berth_start_docker() {
  if docker info >/dev/null 2>&1; then
    return 0
  fi
  berth_log "starting dockerd (log: /tmp/berth-dockerd.log)"
  if command -v systemctl >/dev/null 2>&1 && systemctl start docker >/dev/null 2>&1; then
    :
  else
    berth_as_root sh -c 'nohup dockerd >/tmp/berth-dockerd.log 2>&1 &'
  fi
  local i
  for i in $(seq 1 60); do
    if docker info >/dev/null 2>&1; then
      return 0
    fi
    sleep 1
  done
  berth_log "dockerd did not become ready within 60s; see /tmp/berth-dockerd.log"
  tail -n 30 /tmp/berth-dockerd.log >&2 || true
  exit 1
}

berth_setup() {
  berth_require_go
  berth_install_packages
  berth_start_docker
  export BERTH_AWS_CLI=/usr/bin/aws
}
