#!/bin/sh
# replay_request.sh - replays the request fuzz corpus (under the sanitizers in their run).
exec "${KVS_BUILDDIR:-.}/tests/fuzz/fuzz_request" "${KVS_SRCDIR:-.}/tests/fuzz/corpus/request"
