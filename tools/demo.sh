#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# make demo: runs the appliance end to end on this machine.
# (Grows with the parts; see README "Quick start".)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
echo "demo: the appliance parts are not all built yet; running the unit tests of what exists"
make -C "$root" --no-print-directory test-unit
