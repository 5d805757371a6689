#!/bin/sh
# Rebuilds the embedded trampoline from its C source (needs gcc; amd64).
set -eu
cd "$(dirname "$0")"
gcc -static -nostdlib -Os -fno-asynchronous-unwind-tables -fno-stack-protector -fno-pie -no-pie \
	-Wl,--build-id=none -Wl,-n -Wl,-z,norelro -s -x c -o nsenter_amd64.bin trampoline_amd64.c.src
