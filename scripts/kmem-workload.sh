#!/usr/bin/env bash
# The workload of the bundled capture: a bit of everything a developer's shell does.
set -euo pipefail
d=$(mktemp -d /tmp/kmem-workload.XXXXXX)
# file creation and deletion
for i in $(seq 1 300); do echo "$i" > "$d/f$i"; done
cat "$d"/f* | wc -l
rm -f "$d"/f*
# a directory walk
find /usr/include /usr/share/man -type f | wc -l
# tar + gzip round trip
tar -C /usr/include -cf - linux | gzip -1 > "$d/linux.tar.gz"
mkdir "$d/x" && tar -C "$d/x" -xzf "$d/linux.tar.gz"
du -sh "$d/x"
# a small compile
printf '#include <stdio.h>\nint main(void){puts("hi");return 0;}\n' > "$d/hi.c"
cc -O2 -o "$d/hi" "$d/hi.c" && "$d/hi"
# a pipeline with a few processes
seq 1 20000 | sort -r | uniq | tail -1
rm -rf "$d"
