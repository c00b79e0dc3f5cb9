# Built-in stage plugins (one folder each).  fetch is built from core/oci/local.mk.
