# The quick-start example: a static hello program packed into an OCI image layout by
# the build itself (tests/build/mkoci.py: no Docker, no registry).  `make example`.
noinst_PROGRAMS += examples/hello/hello
examples_hello_hello_SOURCES = examples/hello/hello.c
# Always static and never sanitised: it runs inside the enclave's minimal rootfs.
examples_hello_hello_CFLAGS = $(WARN_CFLAGS) -O2
examples_hello_hello_LDFLAGS = -all-static

EXAMPLE_IMAGE = examples/hello/app-image
$(EXAMPLE_IMAGE)/index.json: examples/hello/hello$(EXEEXT) $(top_srcdir)/tests/build/mkoci.py
	$(AM_V_GEN)rm -rf examples/hello/rootfs $(EXAMPLE_IMAGE) && \
	mkdir -p examples/hello/rootfs && \
	cp examples/hello/hello$(EXEEXT) examples/hello/rootfs/hello && \
	touch -h -d '2024-01-01 00:00:00 UTC' examples/hello/rootfs/hello && \
	$(PYTHON3) $(top_srcdir)/tests/build/mkoci.py $(EXAMPLE_IMAGE) --layer examples/hello/rootfs \
	  --entrypoint '["/hello"]' --cmd '["--greeting","world"]' --env GREETING=hi >/dev/null && \
	rm -rf examples/hello/rootfs

example: $(EXAMPLE_IMAGE)/index.json
.PHONY: example
CLEANFILES += examples/hello/app-image/index.json
clean-local: clean-example
clean-example:
	-rm -rf $(EXAMPLE_IMAGE) examples/hello/rootfs
.PHONY: clean-example
EXTRA_DIST += examples/hello/enclaver.yaml
# A custom stack with the optional plugins and a Lua stage (tests/plugins/custom-stack.sh).
EXTRA_DIST += examples/custom-stack/enclaver.yaml examples/custom-stack/release-stamp.lua \
  examples/custom-stack/README.md
