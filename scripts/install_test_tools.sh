#!/usr/bin/env bash
# System tools the tests need beyond Python packages: curl (the guide's smoke request) and Debian's
# Chromium (the dashboard's browser test; never a downloaded browser). Installs only what is missing.
set -euo pipefail
missing=()
command -v curl >/dev/null || missing+=(curl)
[ -x /usr/bin/chromium ] || missing+=(chromium)
# country flags are emoji: without a colour emoji font the screenshots (make screenshots) show empty boxes
[ -e /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || missing+=(fonts-noto-color-emoji)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "The tests need: ${missing[*]}. Install them with: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "Installing ${missing[*]} (apt-get)"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
