# shellcheck shell=bash
# Sourced by scripts/dev and scripts/test: installs and starts what Berth and
# its tests need when they are missing — the Docker engine (Debian's docker.io),
# the AWS CLI v2 (Debian's awscli), boto3 (Debian's python3-boto3), skopeo and
# gcc (for `go test -race`) — and checks Go.

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
  # An external etcd with default settings: the store and ECS tests run
  # against it once, and the e2e suite runs two servers on one.
  command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
  # The registry's e2e tests copy images between repositories with skopeo.
  command -v skopeo >/dev/null 2>&1 || missing+=(skopeo)
  # The test images are built from the host's static busybox (no registry here).
  [ -x /bin/busybox ] || missing+=(busybox-static)
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

# berth_start_etcd starts a throwaway etcd with default settings on free
# loopback ports, with its data in $1, and prints its client URL. The caller
# stops it with berth_stop_etcd.
berth_start_etcd() {
  local dir=$1 client peer
  client=$(berth_free_port)
  peer=$(berth_free_port)
  etcd --data-dir "$dir/data" --name berth-test \
    --listen-client-urls "http://127.0.0.1:$client" --advertise-client-urls "http://127.0.0.1:$client" \
    --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
    --initial-cluster "berth-test=http://127.0.0.1:$peer" >"$dir/etcd.log" 2>&1 &
  echo $! >"$dir/etcd.pid"
  local i
  for i in $(seq 1 100); do
    if python3 -c "import urllib.request,sys; sys.exit(0 if b'true' in urllib.request.urlopen('http://127.0.0.1:$client/health', timeout=1).read() else 1)" >/dev/null 2>&1; then
      echo "http://127.0.0.1:$client"
      return 0
    fi
    sleep 0.1
  done
  berth_log "etcd did not become healthy; see $dir/etcd.log"
  tail -n 30 "$dir/etcd.log" >&2 || true
  return 1
}

berth_stop_etcd() {
  local dir=$1
  [ -f "$dir/etcd.pid" ] && kill "$(cat "$dir/etcd.pid")" 2>/dev/null || true
}

berth_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
