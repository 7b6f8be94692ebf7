#!/bin/sh
# kennisveiligheid.sh - time the kennisveiligheid plugin alone on a 20 KB
# partnership request with 10 parties (real CORDIS objectives as text when
# ../shared/data is there), one request at a time through the real pipeline,
# and the taxonomy alone on the rule engine.  Run after `make check` (or
# `make tests/unit/test_kennisveiligheid tests/unit/test_kv_taxonomy`) with
# KVS_SRCDIR and KVS_BUILDDIR set, or from the top of the build tree.
set -eu
: "${KVS_SRCDIR:=$(pwd)}"
: "${KVS_BUILDDIR:=$(pwd)}"
export KVS_SRCDIR KVS_BUILDDIR
CK_RUN_CASE=speed "$KVS_BUILDDIR/tests/unit/test_kennisveiligheid" 2>/dev/null | grep '^speed'
"$KVS_BUILDDIR/tests/unit/test_kv_taxonomy" | grep '^taxonomy speed'
