# Layout checks: no include or call cycle between files, core/ never reaches into
# lua/, cli/ or runtime/, no argv parsing in core/, no overlong source file.
TESTS += tests/layout/cycles.sh tests/layout/sizes.sh
EXTRA_DIST += tests/layout/cycles.sh tests/layout/sizes.sh
