#!/usr/bin/env bash
# Install the Debian packages that the system, browser and Redis tests start as real services:
# PostgreSQL, Redis and Chromium. Only what is missing is installed; needs root and apt-get.
#
#   scripts/install_services.sh            # all of them
#   scripts/install_services.sh redis-server
set -euo pipefail

packages=("$@")
[ ${#packages[@]} -gt 0 ] || packages=(postgresql redis-server chromium)

missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "services: ${packages[*]} already installed"
    exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    echo "services: missing ${missing[*]}; install them with apt-get as root" >&2
    exit 1
fi
echo "services: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
