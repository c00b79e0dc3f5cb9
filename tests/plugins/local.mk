# The optional plugins of plugins/ (issue 18): each with real images, built end to end.
TESTS += tests/plugins/prune.sh tests/plugins/pcr-pin.sh
EXTRA_DIST += tests/plugins/prune.sh tests/plugins/pcr-pin.sh

# provenance (issue 18, h-prov): the in-toto/SLSA statement and its DSSE envelope.
TESTS += tests/plugins/provenance.sh tests/plugins/listing.sh tests/plugins/errors.sh
EXTRA_DIST += tests/plugins/provenance.sh tests/plugins/listing.sh tests/plugins/errors.sh

# sbom (issue 18 part A): SPDX 2.3 schema check, dpkg-query/apk/importlib comparisons,
# file hashes, reproducibility, the referrer artifact.  The schema is spdx/spdx-spec's.
TESTS += tests/plugins/sbom.sh
EXTRA_DIST += tests/plugins/sbom.sh tests/plugins/spdx-schema-2.3.json tests/plugins/spdx-schema-2.3.README

# examples/custom-stack (issue 18 part A): prune + Lua stage + sbom + pcr-pin, reproducible.
TESTS += tests/plugins/custom-stack.sh
EXTRA_DIST += tests/plugins/custom-stack.sh
