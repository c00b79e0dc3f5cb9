# Attestation document verifier (enclaver verify --attestation, enclaver.attestation.verify).
libenclaver_la_SOURCES += core/attest/decode.c core/attest/verify.c core/attest/attest-internal.h \
	core/attest/aws-root-g1.h
enclaverinclude_HEADERS += include/enclaver/attestation.h

TESTS += tests/attest/verify.sh
EXTRA_DIST += tests/attest/verify.sh tests/attest/mutate.py tests/attest/nsm-doc.py docs/attestation.md tests/attest/vectors
