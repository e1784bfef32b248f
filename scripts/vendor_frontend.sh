#!/usr/bin/env bash
# Vendor htmx 2.0.x and its websocket extension from the npm registry into static/vendor/,
# with their licences. htmx-ext-ws 2.x declares htmx.org ^2.0.2, so htmx stays on 2.0.x.
set -euo pipefail
HTMX_VERSION=2.0.11
WS_VERSION=2.0.4
dest=static/vendor
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "htmx.org@$HTMX_VERSION" "htmx-ext-ws@$WS_VERSION" >/dev/null)
mkdir -p "$dest/htmx" "$dest/htmx-ext-ws"
tar -xzf "$tmp/htmx.org-$HTMX_VERSION.tgz" -C "$tmp" package/dist/htmx.min.js package/LICENSE
cp "$tmp/package/dist/htmx.min.js" "$tmp/package/LICENSE" "$dest/htmx/"
rm -rf "$tmp/package"
tar -xzf "$tmp/htmx-ext-ws-$WS_VERSION.tgz" -C "$tmp"
cp "$tmp/package/ws.js" "$dest/htmx-ext-ws/"
cp "$tmp/package/LICENSE"* "$dest/htmx-ext-ws/" 2>/dev/null || cp "$dest/htmx/LICENSE" "$dest/htmx-ext-ws/LICENSE"
echo "htmx $HTMX_VERSION and htmx-ext-ws $WS_VERSION vendored into $dest"
