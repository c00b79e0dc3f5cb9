# EIF library and commands (filled in by the EIF work).
enclaver_SOURCES += core/eif/cmd_eif.c
