#!/bin/sh
# Regenerate the build system (configure, Makefile.in) from configure.ac/Makefile.am.
set -e
cd "$(dirname "$0")"
mkdir -p m4 build-aux
exec autoreconf -fi
