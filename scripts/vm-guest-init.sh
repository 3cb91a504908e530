#!/bin/sh
# /init of the VM runtime's guest (scripts/build-vm-image.sh puts it in the initramfs).
# Minimal on purpose: no systemd, no udev, no DHCP. Mounts the shares the host gave it
# (9p over virtio), configures the one NIC whose only reachable peers are the host's
# forwards (QEMU user networking, restrict=on), makes / read-only and runs the agent as
# uid 1001. When the agent exits the guest powers off, which ends QEMU.
export PATH=/usr/bin:/bin
mount -t proc -o nosuid,nodev,noexec proc /proc
mount -t sysfs -o nosuid,nodev,noexec sys /sys
mount -t devtmpfs -o nosuid,noexec dev /dev
mount -t tmpfs -o mode=1777,nosuid,nodev tmp /tmp
mount -t tmpfs -o mode=0755,nosuid,nodev run /run
for m in $(cat /lib/modules/order); do insmod "/lib/modules/$m" 2>/dev/null; done

share() { # tag mountpoint options
  mkdir -p "$2" && mount -t 9p -o "trans=virtio,version=9p2000.L,msize=262144,nosuid,nodev,$3" "$1" "$2" || echo "aiflock-guest: cannot mount $1 at $2" >&2
}
share config /run/aiflock-config ro
env_file=/run/aiflock-config/env
[ -f "$env_file" ] || { echo "aiflock-guest: no environment from the host" >&2; poweroff -f; }
# KEY=base64(value) lines: values reach the agent byte for byte, never through shell parsing.
while read -r line; do
  key="${line%%=*}"
  [ -n "$key" ] && export "$key=$(printf '%s' "${line#*=}" | base64 -d)"
done < "$env_file"
[ -f /run/aiflock-config/secrets ] && share secrets /run/secrets ro
[ -f /run/aiflock-config/creds ] && share creds /run/aiflock ro
mkdir -p "$AIFLOCK_WORKSPACE"
share workspace "$AIFLOCK_WORKSPACE" rw

ip link set lo up
ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0
hostname "$AIFLOCK_INSTANCE_ID"
mount -o remount,ro / 2>/dev/null || echo "aiflock-guest: / stays writable by root (not by the agent)" >&2
echo "aiflock-guest: starting the agent" >&2
cd /tmp
node --optimize-for-size --input-type=module -e "process.setgroups([]); process.setgid(1001); process.setuid(1001); await import('/opt/aiflock/agent.mjs');"
echo "aiflock-guest: agent exited with $?" >&2
poweroff -f
