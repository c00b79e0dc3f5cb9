# The optional plugins of plugins/ (issue 18): each with real images, built end to end.
TESTS += tests/plugins/prune.sh tests/plugins/pcr-pin.sh
EXTRA_DIST += tests/plugins/prune.sh tests/plugins/pcr-pin.sh
