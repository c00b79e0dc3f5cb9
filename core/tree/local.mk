# rootfs tree + content store + layer applier (core/tree), newc cpio writer (core/cpio),
# the flatten stage, and their tests.
libenclaver_la_SOURCES += core/tree/tree.c core/tree/apply.c core/tree/tree-internal.h
enclaverinclude_HEADERS += include/enclaver/tree.h
