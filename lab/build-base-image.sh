#!/usr/bin/env bash
# Builds the lab's Debian 12 systemd "VM" image with debootstrap and
# `docker import`: no registry can be reached, so nothing is pulled.
# Reuses the image when it already exists (pass --force to rebuild).
set -euo pipefail

image="${LAB_BASE_IMAGE:-local/debian12-systemd:1}"
mirror="${LAB_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
packages=systemd,systemd-sysv,dbus,python3,python3-apt,sudo,openssh-server,ca-certificates,iproute2,procps,less,curl,gnupg

if [[ "${1:-}" != "--force" ]] && docker image inspect "$image" >/dev/null 2>&1; then
  echo "ok: base image $image already built"
  exit 0
fi
command -v debootstrap >/dev/null || {
  echo "error: debootstrap is missing; install it with: apt-get install debootstrap" >&2
  exit 1
}

rootfs=$(mktemp -d /var/tmp/lab-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT

echo "building $image from $mirror (a few minutes)"
debootstrap --variant=minbase --include="$packages" bookworm "$rootfs" "$mirror" >/dev/null

# Security updates come from their own suite; the VMs use the same sources as a real host.
cat >"$rootfs/etc/apt/sources.list" <<SOURCES
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
SOURCES

# Trust the host's extra CAs (TLS inspection on the way out); no-op when there are none.
if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
  cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
  chroot "$rootfs" update-ca-certificates >/dev/null
fi

# Every VM must get its own machine id and SSH host keys, not the image's.
: >"$rootfs/etc/machine-id"
rm -f "$rootfs"/etc/ssh/ssh_host_*
cat >"$rootfs/etc/systemd/system/ssh-host-keys.service" <<'UNIT'
[Unit]
Description=Generate this VM's SSH host keys
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target
UNIT
chroot "$rootfs" systemctl enable ssh-host-keys.service ssh.service >/dev/null 2>&1
# Units that make no sense in a container and only slow the boot.
chroot "$rootfs" systemctl mask getty@tty1.service systemd-udevd.service \
  systemd-udev-trigger.service systemd-firstboot.service >/dev/null 2>&1

# The account Ansible logs in as, as on a real fleet: key only, passwordless sudo.
chroot "$rootfs" useradd --create-home --shell /bin/bash ansible
echo 'ansible ALL=(ALL) NOPASSWD:ALL' >"$rootfs/etc/sudoers.d/ansible"
chmod 0440 "$rootfs/etc/sudoers.d/ansible"
# Package lists as a fresh real host has them, so roles can install at once.
chroot "$rootfs" apt-get update -qq
rm -rf "$rootfs"/var/cache/apt/archives/*.deb

tar -C "$rootfs" -c . | docker import \
  --change 'ENV container=docker' \
  --change 'CMD ["/lib/systemd/systemd"]' \
  - "$image" >/dev/null
echo "changed: built base image $image"
