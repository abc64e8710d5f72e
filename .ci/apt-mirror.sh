#!/usr/bin/env bash
# Print "URI [SIGNED-BY]" of the first enabled Debian source that this
# machine's apt configuration uses for SUITE (e.g. bookworm), read from
# /etc/apt/sources.list.d/*.sources (deb822) and the one-line lists; exit 1
# when there is none. The project names no mirror: apt's own setting is used.
set -euo pipefail
suite="$1"
dir="${APT_SOURCES_DIR:-/etc/apt}"

# deb822: stanzas separated by blank lines; "Enabled: no" turns one off.
for f in "$dir"/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk -v suite="$suite" '
        function flush() {
            if (types ~ /(^| )deb( |$)/ && enabled != "no" && uris != "") {
                n = split(suites, s, " ")
                for (i = 1; i <= n; i++) if (s[i] == suite) {
                    split(uris, u, " "); print u[1] (key != "" ? " " key : ""); found = 1; exit
                }
            }
            types = uris = suites = key = enabled = ""
        }
        /^[ \t]*#/ { next }
        /^[ \t]*$/ { flush(); next }
        {
            k = tolower($1); sub(/:$/, "", k); $1 = ""; sub(/^ +/, "")
            if (k == "types") types = $0
            else if (k == "uris") uris = $0
            else if (k == "suites") suites = $0
            else if (k == "signed-by") key = $0
            else if (k == "enabled") enabled = tolower($0)
        }
        END { if (!found) flush(); exit !found }
    ' "$f" && exit 0
done

# One-line format: deb [options] URI SUITE COMPONENTS...
for f in "$dir"/sources.list "$dir"/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk -v suite="$suite" '
        $1 == "deb" {
            i = 2; key = ""
            if ($i ~ /^\[/) {
                while (i <= NF) {
                    if ($i ~ /signed-by=/) { key = $i; sub(/.*signed-by=/, "", key); sub(/\]$/, "", key) }
                    if ($i ~ /\]$/) { i++; break }
                    i++
                }
            }
            if ($(i + 1) == suite) { print $i (key != "" ? " " key : ""); found = 1; exit }
        }
        END { exit !found }
    ' "$f" && exit 0
done
exit 1
