# The optional plugins of plugins/ (issue 18): each with real images, built end to end.
TESTS += tests/plugins/prune.sh tests/plugins/pcr-pin.sh
EXTRA_DIST += tests/plugins/prune.sh tests/plugins/pcr-pin.sh

# provenance (issue 18, h-prov): the in-toto/SLSA statement and its DSSE envelope.
TESTS += tests/plugins/provenance.sh tests/plugins/listing.sh tests/plugins/errors.sh
EXTRA_DIST += tests/plugins/provenance.sh tests/plugins/listing.sh tests/plugins/errors.sh
