#!/usr/bin/env bash
# Renders the comparative report's picture (--svg, --html) in headless
# Chromium and checks the screenshots: the size asked for, not blank, the
# drawing reaching the SVG's declared bottom and right edges (so its
# width and height fit what it draws), and the chart's bars and the boxes'
# colours present, in the SVG alone and inside the page.
#
#   scripts/picture-check.sh              # the bundled trace's picture
#   KEEP=/tmp/pic scripts/picture-check.sh    # keep the files and PNGs there
#
# Needs chromium (Debian: apt-get install --no-install-recommends chromium)
# and python3; `cargo test` does not. CI (.ci/run) installs chromium first.
set -euo pipefail
cd "$(dirname "$0")/.."

browser=${CHROMIUM:-}
for candidate in chromium chromium-browser google-chrome; do
  [ -n "$browser" ] && break
  browser=$(command -v "$candidate" || true)
done
[ -n "$browser" ] || { echo "picture-check: no chromium (apt-get install chromium)" >&2; exit 1; }

out=${KEEP:-$(mktemp -d)}
mkdir -p "$out"
[ -n "${KEEP:-}" ] || trap 'rm -rf "$out"' EXIT

cargo run --release --quiet -- --svg "$out/report.svg" --html "$out/report.html" >"$out/report.txt"
size=$(sed -n '1s/^<svg [^>]* width="\([0-9]*\)" height="\([0-9]*\)".*/\1 \2/p' "$out/report.svg")
[ -n "$size" ] || { echo "picture-check: no width and height on the SVG's first line" >&2; exit 1; }
read -r width height <<<"$size"

# A fresh profile each run, and no sandbox: CI runs as root, where
# Chromium's sandbox refuses to start.
shot() { # FILE PNG WIDTH HEIGHT
  timeout 120 "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
    --user-data-dir="$out/profile" --window-size="$3,$4" --screenshot="$2" "file://$(realpath "$1")" \
    >>"$out/chromium.log" 2>&1 || { cat "$out/chromium.log" >&2; exit 1; }
}
# The page: the body's 20 px margins around the picture, and its top part
# (heading, preamble, table, the chart and the first rows).
page_width=$((width + 40))
page_height=1400
shot "$out/report.svg" "$out/svg.png" "$width" "$height"
shot "$out/report.html" "$out/html.png" "$page_width" "$page_height"

python3 - "$out/svg.png" "$width" "$height" svg "$out/html.png" "$page_width" "$page_height" page <<'EOF'
import struct, sys, zlib

def decode(path):
    """Width, height, channels and rows of an 8-bit RGB or RGBA PNG (stdlib only)."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path}: not a PNG"
    pos, idat, ihdr = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = ihdr
    assert depth == 8 and colour in (2, 6) and interlace == 0, f"{path}: PNG kind {ihdr}"
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        at = y * (stride + 1)
        kind, line = raw[at], bytearray(raw[at + 1:at + 1 + stride])
        if kind == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 255
        elif kind == 2:
            line = bytearray((a + b) & 255 for a, b in zip(line, prev))
        elif kind == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 255
        elif kind == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b, c = prev[i], prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line)
        prev = line
    return width, height, bpp, rows

def check(path, want_w, want_h, what):
    w, h, bpp, rows = decode(path)
    assert (w, h) == (want_w, want_h), f"{what}: screenshot {w}x{h}, asked for {want_w}x{want_h}"
    colours, ink, top, bottom, right = set(), 0, h, -1, -1
    for y, line in enumerate(rows):
        for x in range(0, w * bpp, bpp):
            px = bytes(line[x:x + 3])
            colours.add(px)
            if px != b"\xff\xff\xff":
                ink += 1
                top, bottom, right = min(top, y), max(bottom, y), max(right, x // bpp)
    share = ink / (w * h)
    print(f"{what}: {w}x{h}, {len(colours)} colours, {share:.1%} not white, drawn rows {top}-{bottom}, up to column {right}")
    assert len(colours) > 50, f"{what}: only {len(colours)} colours: blank or unstyled"
    assert 0.03 < share < 0.9, f"{what}: {share:.1%} of the pixels not white"
    # The chart's bar fill (#7da7d9) and the static instance's box fill
    # (#ffe0b2): the chart and the boxes were drawn with their styles.
    for name, rgb in (("bar", b"\x7d\xa7\xd9"), ("static box", b"\xff\xe0\xb2")):
        assert rgb in colours, f"{what}: no {name} colour #{rgb.hex()}"
    return top, bottom, right

args = sys.argv[1:]
top, bottom, right = check(args[0], int(args[1]), int(args[2]), args[3])
w, h = int(args[1]), int(args[2])
# The SVG's size fits its drawing: ink within 60 px of its bottom and right edges.
assert bottom >= h - 60, f"svg: nothing drawn below row {bottom} of {h}: the declared height is too large"
assert right >= w - 60, f"svg: nothing drawn right of column {right} of {w}: the declared width is too large"
check(args[4], int(args[5]), int(args[6]), args[7])
print("picture-check: ok")
EOF
