# scripts/fetch-kernel.sh is installed as `enclaver-fetch-kernel`, so that an installed
# enclaver can point at a way to lay out the default kernel (the build tree keeps using
# the script in place).  Only its usage line changes.
bin_SCRIPTS = scripts/enclaver-fetch-kernel
scripts/enclaver-fetch-kernel: $(top_srcdir)/scripts/fetch-kernel.sh
	$(AM_V_GEN)mkdir -p scripts && \
	sed 's|scripts/fetch-kernel\.sh|enclaver-fetch-kernel|g' $(top_srcdir)/scripts/fetch-kernel.sh >$@.tmp && \
	chmod 755 $@.tmp && mv $@.tmp $@
CLEANFILES += scripts/enclaver-fetch-kernel
