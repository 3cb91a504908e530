#!/usr/bin/env bash
# Builds the VM runtime's guest: Debian's own kernel (linux-image-amd64, from apt) and a small
# initramfs holding busybox, this host's node, the agent bundle, the kernel modules the guest
# needs (virtio-net, 9p) and a minimal /init (no systemd: under software emulation every
# second of boot counts). The initramfs is the guest's whole root: it is unpacked into RAM,
# owned by root and not writable by the agent, which runs as uid 1001.
# Shaped for a cheap boot under software emulation (docs/vm-runtime.md has the timeline):
# - the kernel is shipped uncompressed (vmlinux, an ELF that QEMU starts at its PVH entry), so
#   the guest does not unpack Debian's xz-compressed bzImage, which took a third of its boot;
# - node is stripped of its symbols (12 MiB less to unpack and hold in the guest's RAM);
# - the initramfs is lz4-compressed: inflating gzip cost the guest seconds, lz4 a fraction,
#   at a little more size (QEMU holds the initramfs in its own memory for the guest's life).
# Cached by content under the cache dir: <cache>/vm-<hash12>/{vmlinux,initrd.img}; an unchanged
# re-run is a no-op. Prints the directory it built (or found) on stdout.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUNDLE="$ROOT/packages/agent/dist/bundle/agent.mjs"
INIT="$ROOT/scripts/vm-guest-init.sh"
# What the guest loads: virtio PCI, its NIC and the 9p shares (with dependencies, in load order).
MODULES=(virtio_pci virtio_net 9pnet_virtio 9p)

usage() {
  cat <<USAGE
usage: scripts/build-vm-image.sh [--cache-dir DIR] [--kernel VERSION] [--json] [--help]

Builds the VM runtime's kernel + initramfs (needs linux-image-amd64, busybox-static, cpio, lz4
and xz-utils installed: scripts/bootstrap.sh installs them).

  --cache-dir DIR   where the image is kept (default \$AIFLOCK_CACHE_DIR or /var/cache/aiflock)
  --kernel VERSION  the installed kernel to use (default: the newest non-cloud one in /boot)
  --json            print {"dir": "...", "kernel": "...", "initrd": "..."} as the last line
  -h, --help        this help

Exit codes: 0 ok, 1 build failed, 2 usage, 4 missing prerequisite.
USAGE
}

cache_dir="${AIFLOCK_CACHE_DIR:-/var/cache/aiflock}"
kver=""
json=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --cache-dir) cache_dir="${2:?--cache-dir needs a directory}"; shift 2 ;;
    --kernel) kver="${2:?--kernel needs a version}"; shift 2 ;;
    --json) json=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "build-vm-image: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done

log() { echo "build-vm-image: $*" >&2; }
need() { command -v "$1" >/dev/null || { log "missing $1 ($2)"; exit 4; }; }
need busybox 'apt-get install busybox-static'
need cpio 'apt-get install cpio'
need lz4 'apt-get install lz4'
need xz 'apt-get install xz-utils'
need node 'node >= 20'
[[ -f "$BUNDLE" ]] || { log "no agent bundle at $BUNDLE (npm run build)"; exit 4; }
if [[ -z "$kver" ]]; then
  # The cloud kernel has no 9p; Debian's generic one has everything as modules.
  kver="$(find /boot -maxdepth 1 -name 'vmlinuz-*' ! -name '*cloud*' -printf '%f\n' | sed 's/^vmlinuz-//' | sort -V | tail -1)"
fi
[[ -n "$kver" && -f "/boot/vmlinuz-$kver" ]] || { log "no kernel in /boot (apt-get install linux-image-amd64)"; exit 4; }
[[ -d "/lib/modules/$kver" ]] || { log "no modules for $kver"; exit 4; }
# QEMU boots an uncompressed kernel only through its PVH entry point (Debian's has one).
grep -qx 'CONFIG_PVH=y' "/boot/config-$kver" 2>/dev/null || { log "kernel $kver has no PVH entry point (CONFIG_PVH=y in /boot/config-$kver)"; exit 4; }

# The ELF kernel inside a bzImage: its payload is compressed (xz on Debian); the first stream
# that unpacks to an ELF file is it.
extract_vmlinux() { # bzImage output
  local sig tool off
  while read -r sig tool; do
    for off in $(LC_ALL=C grep -obUaP "$sig" "$1" | cut -d: -f1); do
      tail -c +$((off + 1)) "$1" | $tool > "$2" 2>/dev/null || true
      [[ "$(head -c 4 "$2" | od -An -c | tr -d ' ')" == '177ELF' ]] && return 0
    done
  done <<'SIGNATURES'
\xfd7zXZ\x00 xz -dc --single-stream
\x1f\x8b\x08 gzip -dc
\x28\xb5\x2f\xfd zstd -dc
SIGNATURES
  return 1
}

node_bin="$(readlink -f "$(command -v node)")"
node_libs="$(ldd "$node_bin" | awk '/=>/ {print $3} $1 ~ /^\// {print $1}' | sort -u)"
mapfile -t module_files < <(for m in "${MODULES[@]}"; do modprobe -S "$kver" --show-depends "$m" | awk '$1 == "insmod" {print $2}'; done | awk '!seen[$0]++')

# The content key: everything that goes into the image.
key="$( { echo "recipe 2 $kver $(command -v strip)"; sha256sum "${BASH_SOURCE[0]}" "/boot/vmlinuz-$kver" "$BUNDLE" "$INIT" "$node_bin" "$(command -v busybox)" ${node_libs} "${module_files[@]}"; } | sha256sum | cut -c1-12)"
out="$cache_dir/vm-$key"
if [[ -f "$out/initrd.img" && -f "$out/vmlinux" ]]; then
  log "$out is up to date (skipped)"
else
  log "building $out (kernel $kver)"
  mkdir -p "$cache_dir"
  work="$(mktemp -d "$cache_dir/.vm-build.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  r="$work/root"
  mkdir -p "$r"/{bin,sbin,dev,proc,sys,tmp,run,etc,opt/aiflock,shared,lib/modules,usr/bin}
  cp "$(command -v busybox)" "$r/bin/busybox"
  for applet in $("$r/bin/busybox" --list); do [[ "$applet" == busybox ]] || ln -sf busybox "$r/bin/$applet"; done
  # Without its symbol table node runs the same; strip is binutils', absent on some hosts.
  if command -v strip >/dev/null; then strip -o "$r/usr/bin/node" "$node_bin"; else cp "$node_bin" "$r/usr/bin/node"; fi
  for lib in $node_libs; do mkdir -p "$r$(dirname "$lib")"; cp -L "$lib" "$r$lib"; done
  for f in "${module_files[@]}"; do
    name="$(basename "${f%.xz}")"
    case "$f" in *.xz) xz -dc "$f" > "$r/lib/modules/$name" ;; *) cp "$f" "$r/lib/modules/$name" ;; esac
    echo "$name" >> "$r/lib/modules/order"
  done
  cp "$BUNDLE" "$r/opt/aiflock/agent.mjs"
  cp "$INIT" "$r/init"
  chmod 0755 "$r/init"
  echo 'root:x:0:0:root:/:/bin/sh' > "$r/etc/passwd"
  echo 'agent:x:1001:1001:agent:/tmp:/bin/sh' >> "$r/etc/passwd"
  printf 'root:x:0:\nagent:x:1001:\n' > "$r/etc/group"
  mkdir -p "$work/out"
  # -l: the legacy frame format, the one the kernel's initramfs unpacker reads. The default
  # (fastest) level: -9 saves 9 MiB of 50 for fifteen times the CPU, on every fresh build.
  (cd "$r" && find . -print0 | cpio --null -o -H newc --owner 0:0 --quiet | lz4 -l -q -c) > "$work/out/initrd.img"
  extract_vmlinux "/boot/vmlinuz-$kver" "$work/out/vmlinux" || { log "cannot unpack the kernel from /boot/vmlinuz-$kver"; exit 1; }
  chmod 0644 "$work/out/"*
  rm -rf "$out"
  mv "$work/out" "$out"
  chmod 0755 "$out"
  log "built $out ($(du -sh "$out/initrd.img" | cut -f1) initramfs)"
fi
echo "$out"
[[ $json -eq 1 ]] && printf '{"dir":"%s","kernel":"%s","initrd":"%s"}\n' "$out" "$out/vmlinux" "$out/initrd.img"
exit 0
