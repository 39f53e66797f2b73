#!/bin/sh
# The golden UKE files are written by hand: each NAME.txt holds the records as UTF-8 text, one
# a line, typed from the public record layout (SPEC.md "Electronic claims"). This script only
# changes the encoding and the line ends — iconv to Windows-31J, CR LF after every record and
# 0x1A at the end — so the .UKE files never pass through onshi's writer.
set -eu
cd "$(dirname "$0")"
for txt in *.txt; do
    uke="${txt%.txt}.UKE"
    sed 's/$/\r/' "$txt" | iconv -f UTF-8 -t CP932 > "$uke"
    printf '\032' >> "$uke"
done
