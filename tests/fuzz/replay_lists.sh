#!/bin/sh
# replay_lists.sh - replays the list-loader fuzz corpus (under the sanitizers in their run).
exec "${KVS_BUILDDIR:-.}/tests/fuzz/fuzz_lists" "${KVS_SRCDIR:-.}/tests/fuzz/corpus/lists"
