#!/usr/bin/env bash
# Lay the embeddable distribution out as conda's python does on Windows:
# python.exe at the root, Lib/site-packages, Scripts/.
set -euo pipefail

work="$(mktemp -d)"
python3 -m zipfile -e "$EMBED_ZIP" "$work"
cp -R "$work"/cp313/. "$PREFIX/"
rm -rf "$work"
mkdir -p "$PREFIX/Lib/site-packages" "$PREFIX/Scripts"
# The embeddable interpreter reads sys.path from its ._pth file only; `import site`
# adds PREFIX\Lib\site-packages as a regular installation has it.
printf 'python313.zip\r\n.\r\nLib\\site-packages\r\nimport site\r\n' > "$PREFIX/python313._pth"
printf 'installed by conda\r\n' > "$PREFIX/Lib/site-packages/README.txt"
