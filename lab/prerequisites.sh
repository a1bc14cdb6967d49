#!/usr/bin/env bash
# Makes sure the lab's host prerequisites are there: Debian's docker.io,
# debootstrap, docker-registry and an SSH client, and a Docker engine that
# answers. A running engine is left alone; one that is not running is started.
set -euo pipefail

need_root() {
  if [[ $EUID -ne 0 ]]; then
    echo "error: the lab installs packages and starts dockerd: run it as root" >&2
    exit 1
  fi
}

missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
[[ -x /usr/bin/docker-registry ]] || missing+=(docker-registry)
command -v ssh >/dev/null || missing+=(openssh-client)
command -v ss >/dev/null || missing+=(iproute2)
if ((${#missing[@]})); then
  need_root
  if ! command -v apt-get >/dev/null; then
    echo "error: missing ${missing[*]} and no apt-get to install them; the lab expects Debian 12" >&2
    exit 1
  fi
  echo "changed: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The package's own registry service would take port 5000 on the host; the lab runs its own.
if command -v systemctl >/dev/null && systemctl is-active --quiet docker-registry 2>/dev/null; then
  echo "note: the host's docker-registry service is running; the lab does not use it"
fi

if docker info >/dev/null 2>&1; then
  echo "ok: Docker engine answers"
  exit 0
fi
need_root
if command -v systemctl >/dev/null && systemctl is-system-running >/dev/null 2>&1; then
  systemctl start docker
else
  # No systemd on this machine (a CI container): run dockerd in the background.
  mkdir -p /var/log
  nohup dockerd >/var/log/selfhost-lab-dockerd.log 2>&1 &
fi
for _ in $(seq 60); do
  docker info >/dev/null 2>&1 && { echo "changed: started the Docker engine"; exit 0; }
  sleep 1
done
echo "error: dockerd did not answer within 60 s; see /var/log/selfhost-lab-dockerd.log" >&2
exit 1
