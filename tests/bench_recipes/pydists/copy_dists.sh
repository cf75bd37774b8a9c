#!/usr/bin/env bash
# Copy the site-packages entries named in $DIST_ITEMS from $SRC_SITE, then
# compile them with the packaged interpreter, as conda packages ship .pyc files.
set -euo pipefail

SP="$("$PREFIX/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"
mkdir -p "$SP"
for item in $DIST_ITEMS; do
    cp -R "$SRC_SITE/$item" "$SP/"
done
find "$SP" -name __pycache__ -prune -exec rm -rf {} +
# pip writes RECORD/INSTALLER for its own installs; conda owns these files now.
for info in "$SP"/*.dist-info; do
    printf 'conda\n' > "$info/INSTALLER"
    rm -f "$info/RECORD" "$info/direct_url.json"
done
# A few packages ship deliberately invalid sources (test data); pip skips those too.
"$PREFIX/bin/python" -m compileall -q -j 2 "$SP" >/dev/null || true
