#!/bin/sh
# man_options.sh - keeps the man pages honest.
#
# 1. Every key the host parses (daemon, limits and sink, from the option
#    tables via the hidden `kvscreen options`) and every option of every
#    plugin built in the tree (from `kvscreen plugins --verbose`) has an entry
#    in docs/kvscreend.conf.5, in the subsection of its group ("daemon",
#    "plugins.denied_party", ...), with its type, "required" when it is, and
#    its default; and every entry there names a key that exists.
# 2. The policy keys, the plugin-group keys the host reads and the top-level
#    groups named in daemon/core/cfg.c are documented.
# 3. Every man page renders without a warning from groff or man.
set -eu
src=${KVS_SRCDIR:-.}
build=${KVS_BUILDDIR:-.}
page="$src/docs/kvscreend.conf.5"
pages="$src/docs/kvscreen.1 $src/docs/kvscreend.8 $page $src/docs/kvscreen-plugin.7"
if ! command -v groff >/dev/null 2>&1; then
	echo "SKIP: groff is not installed"
	exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
pass=0
bad() {
	echo "FAIL: $*"
	fail=$((fail + 1))
}

# ---- 3. rendering ----
for p in $pages; do
	[ -f "$p" ] || { bad "$p is missing"; continue; }
	groff -ww -z -man "$p" > "$tmp/warn" 2>&1 || true
	if command -v man >/dev/null 2>&1; then
		LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$p" 2>> "$tmp/warn" >/dev/null || true
	fi
	if [ -s "$tmp/warn" ]; then
		bad "$(basename "$p") does not render cleanly:"
		cat "$tmp/warn"
	else
		pass=$((pass + 1))
	fi
done

# ---- the documented entries: "SUBSECTION<TAB>key<TAB>(meta)" ----
# Rendered without line breaks inside paragraphs: an entry's tag is its own
# line at the tag indent, "key (type[, required][, default X])".
groff -man -Tascii -P-cbou -rLL=1000n "$page" 2>/dev/null | awk '
	/^[^ ]/ { sub_ = ""; next }                      # .SH heading
	/^   [^ ]/ { sub_ = substr($0, 4); next }          # .SS heading
	/^       [a-z0-9_]+ \(.*\)$/ {
		line = substr($0, 8); key = line; sub(/ .*/, "", key)
		meta = line; sub(/^[a-z0-9_]+ /, "", meta)
		if (sub_ != "") print sub_ "\t" key "\t" meta
	}' > "$tmp/documented"
[ -s "$tmp/documented" ] || { bad "no key entries found in kvscreend.conf.5"; exit 1; }

# check GROUP KEY TYPE REQUIRED DEFAULT ("-": none)
check() {
	g=$1 k=$2 t=$3 req=$4 def=$5
	meta=$(awk -F '\t' -v g="$g" -v k="$k" '$1 == g && $2 == k { print $3; exit }' "$tmp/documented")
	if [ -z "$meta" ]; then
		bad "$g.$k is not documented in kvscreend.conf.5 (section $g)"
		return
	fi
	case "$meta" in
	"($t"*) ;;
	*) bad "$g.$k: the page says $meta, the table says type $t"; return ;;
	esac
	if [ "$req" = 1 ] && ! echo "$meta" | grep -q ', required'; then
		bad "$g.$k is required, the page does not say so: $meta"
		return
	fi
	if [ "$def" != "-" ]; then
		case "$t" in
		string | path) want="default \"$def\"" ;;
		*) want="default $def" ;;
		esac
		case "$def" in
		/*/*) tail=$(echo "$def" | awk -F/ '{ print "/" $(NF - 1) "/" $NF }') ;;
		*) tail="" ;;
		esac
		if ! printf '%s\n' "$meta" | grep -qF -- "$want"; then
			# A build-time path (plugin_dir) may be written with its
			# configure variable; its last two components must match.
			if [ -z "$tail" ] || ! printf '%s\n' "$meta" | grep -qF -- "$tail\""; then
				bad "$g.$k: default $def is not on the page: $meta"
				return
			fi
		fi
	fi
	echo "$g	$k" >> "$tmp/expected"
	pass=$((pass + 1))
}
: > "$tmp/expected"

# ---- 1a. host keys ----
"$build/kvscreen" options > "$tmp/host" || { bad "kvscreen options failed"; exit 1; }
[ "$(wc -l < "$tmp/host")" -ge 30 ] || bad "kvscreen options printed only $(wc -l < "$tmp/host") keys"
# (read collapses empty tab-separated fields: an empty default travels as "<empty>")
awk -F '\t' '{ print $1 "\t" $2 "\t" ($3 == "" ? "<empty>" : $3) }' "$tmp/host" > "$tmp/host3"
while IFS='	' read -r gk t def; do
	[ "$def" = "<empty>" ] && def=""
	check "${gk%.*}" "${gk##*.}" "$t" 0 "$def"
done < "$tmp/host3"

# ---- 1b. plugin options, with every plugin built in the tree loaded ----
mkdir "$tmp/conf"
for d in rules lists kennisveiligheid; do
	[ -e "$src/conf/$d" ] && ln -s "$src/conf/$d" "$tmp/conf/$d"
done
{
	echo "daemon: { plugin_dir = \"$build/plugins\"; };"
	echo "plugins: {"
	for so in "$build"/plugins/*/.libs/*.so; do
		[ -f "$so" ] || continue
		n=$(basename "$so" .so)
		case "$n" in
		# Required options of the shipped plugins.
		denied_party) echo "  $n: { lists = [ \"kvs:own:high:lists/institute-own.csv\" ]; };" ;;
		*) echo "  $n: {};" ;;
		esac
	done
	echo "};"
} > "$tmp/conf/all.conf"
n_plugins=$(grep -c '^  [a-z0-9_]*:' "$tmp/conf/all.conf" || true)
if [ "$n_plugins" -gt 0 ]; then
	if ! "$build/kvscreen" plugins --verbose -c "$tmp/conf/all.conf" > "$tmp/plugins" 2> "$tmp/plugins.err"; then
		cat "$tmp/plugins.err"
		bad "kvscreen plugins --verbose failed on the plugins of the tree (a new required option? add it above)"
	fi
	awk '
		/^[a-z0-9_]+ / { p = $1; next }
		/^    [a-z0-9_]+ \(.*\): / && p != "" {
			line = substr($0, 5); k = line; sub(/ .*/, "", k)
			m = line; sub(/^[a-z0-9_]+ \(/, "", m); sub(/\): .*/, "", m)
			t = m; sub(/,.*/, "", t)
			req = (m ~ /, required/) ? 1 : 0
			d = "-"
			if (match(m, /, default .*/)) d = substr(m, RSTART + 10)
			print "plugins." p "\t" k "\t" t "\t" req "\t" d
		}' "$tmp/plugins" > "$tmp/plugin_opts"
	[ "$(cut -f1 "$tmp/plugin_opts" | sort -u | wc -l)" -eq "$n_plugins" ] ||
		bad "expected options of $n_plugins plugins, got $(cut -f1 "$tmp/plugin_opts" | sort -u | wc -l)"
	while IFS='	' read -r g k t req def; do
		check "$g" "$k" "$t" "$req" "$def"
	done < "$tmp/plugin_opts"
fi

# ---- 2. keys parsed by hand in daemon/core/cfg.c ----
cfg="$src/daemon/core/cfg.c"
for k in $(sed -n '/^static int parse_policy/,/^}/p' "$cfg" | grep -o '"[a-z_]*"' | tr -d '"' | sort -u); do
	case "$k" in
	weights | decisions | on_plugin_failure | on_no_plugin | clear | review | escalate | deny) ;;
	*) continue ;;
	esac
	case "$k" in clear | review | escalate | deny) continue ;; esac
	if awk -F '\t' -v k="$k" '$1 == "policy" && $2 == k { f = 1 } END { exit !f }' "$tmp/documented"; then
		pass=$((pass + 1)); echo "policy	$k" >> "$tmp/expected"
	else
		bad "policy.$k is not documented"
	fi
done
for k in $(sed -n '/^static int parse_plugins/,/^}/p' "$cfg" | grep -o 'get_member(pg, "[a-z_]*")' |
	   sed 's/.*"\([a-z_]*\)".*/\1/' | sort -u); do
	if awk -F '\t' -v k="$k" '$1 == "plugins" && $2 == k { f = 1 } END { exit !f }' "$tmp/documented"; then
		pass=$((pass + 1)); echo "plugins	$k" >> "$tmp/expected"
	else
		bad "the plugin-group key $k is not documented (section plugins)"
	fi
done
grep -q '"decisions"' "$cfg" && ! grep -q '^policy	decisions$' "$tmp/expected" && bad "policy.decisions missing"
for g in $(grep -o 'top_keys\[\] = {[^}]*}' "$cfg" | grep -o '"[a-z_]*"' | tr -d '"'); do
	if grep -q "^$g	" "$tmp/documented" || grep -q "^$g\." "$tmp/documented"; then
		pass=$((pass + 1))
	else
		bad "the top-level group $g has no section in kvscreend.conf.5"
	fi
done

# ---- every documented key exists ----
cut -f1,2 "$tmp/documented" | sort -u > "$tmp/doc_keys"
sort -u "$tmp/expected" > "$tmp/exp_keys"
# Sections whose keys come from the tables: daemon, limits, sink, plugins.*,
# and policy / plugins from cfg.c.
comm -23 "$tmp/doc_keys" "$tmp/exp_keys" | while IFS='	' read -r g k; do
	case "$g" in
	plugins.*)
		# Only plugins that are built here can be checked.
		grep -q "^$g	" "$tmp/exp_keys" && echo "$g.$k" ;;
	*) echo "$g.$k" ;;
	esac
done > "$tmp/stale"
if [ -s "$tmp/stale" ]; then
	bad "documented in kvscreend.conf.5 but not a key: $(tr '\n' ' ' < "$tmp/stale")"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
