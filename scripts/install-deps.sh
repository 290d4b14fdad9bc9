#!/usr/bin/env bash
# Installs the Debian packages named on the command line that are not installed yet, with apt-get.
# As root it runs apt-get directly; as any other user through sudo (an error names sudo when it is absent).
#
#   scripts/install-deps.sh [--dry-run] PACKAGE...
#
# --dry-run prints the one shell command it would run (nothing when every package is present) and changes nothing.
set -euo pipefail

dry_run=false
if [ "${1:-}" = --dry-run ]; then dry_run=true; shift; fi
[ $# -gt 0 ] || { echo "usage: $0 [--dry-run] PACKAGE..." >&2; exit 2; }

missing=()
for package in "$@"; do
  [[ "$package" =~ ^[a-z0-9][a-z0-9+.-]+$ ]] || { echo "install-deps: '$package' is not a Debian package name" >&2; exit 2; }
  status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$package")
done
[ ${#missing[@]} -gt 0 ] || exit 0

# `env NAME=value command` keeps the assignment an argument, so it survives an empty or present sudo prefix alike.
apt=(env DEBIAN_FRONTEND=noninteractive apt-get)
if [ "$(id -u)" != 0 ]; then
  if ! $dry_run && ! command -v sudo >/dev/null 2>&1; then
    echo "install-deps: missing Debian packages: ${missing[*]}" >&2
    echo "install-deps: run as root, or install sudo, or install them yourself: apt-get install ${missing[*]}" >&2
    exit 1
  fi
  apt=(sudo "${apt[@]}")
fi
command="${apt[*]} update && ${apt[*]} install -y ${missing[*]}"

if $dry_run; then
  echo "$command"
  exit 0
fi
echo "installing: ${missing[*]}" >&2
sh -c "$command"
