#!/usr/bin/env bash
# The container test: build the CPU image (cached layers make a rebuild after a code change take minutes; the first
# build about 20 minutes on two cores), then run tests/test_container.py against it with the network off.
#
#   ./scripts/test-image.sh               # build dayone:cpu if needed (cache permitting), then test it
#   ./scripts/test-image.sh --no-build    # test the image already built
#
# DAYONE_TEST_IMAGE names another image (default dayone:cpu). Results go to docs/benchmarks.md by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
image="${DAYONE_TEST_IMAGE:-dayone:cpu}"
if [ "${1:-}" != "--no-build" ]; then
    start=$(date +%s)
    ./scripts/build-image.sh --variant cpu --tag "$image"
    echo "==> build step: $(( $(date +%s) - start )) s"
fi
start=$(date +%s)
DAYONE_TEST_IMAGE="$image" python -m pytest tests/test_container.py -v -rs -p no:cacheprovider
echo "==> container test: $(( $(date +%s) - start )) s"
