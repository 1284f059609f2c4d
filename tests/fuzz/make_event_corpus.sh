#!/usr/bin/env bash
# tests/fuzz/make_event_corpus.sh — (re)write the seed corpus for an event-decoding fuzzer:
# tests/fuzz/corpus/event/valid-*  decode (evf_event_decode_message with no content type),
# tests/fuzz/corpus/event/invalid-* are rejected with an error. tests/unit/test_event_codec.c
# checks both, so a wrong seed fails the unit tests. Protobuf is hand-encoded here (no protoc
# needed): tags, varints and lengths from the field numbers in proto/evfleet/v1/event.proto.
set -euo pipefail
cd "$(dirname "$0")"
out=corpus/event
mkdir -p "$out"

# Every byte is kept as a \xNN escape until the final printf, so a length is ${#s} / 4.
hex() { printf '%s' "$1" | od -An -tx1 -v | tr -d ' \n' | sed 's/../\\x&/g'; }
varint() {
    local v=$1 s=""
    while ((v >= 128)); do
        s+=$(printf '\\x%02x' $(((v & 127) | 128)))
        v=$((v >> 7))
    done
    printf '%s\\x%02x' "$s" "$v"
}
tag() { varint $((($1 << 3) | $2)); }
nbytes() { echo $((${#1} / 4)); }
f_str() { local p; p=$(hex "$2"); printf '%s%s%s' "$(tag "$1" 2)" "$(varint "$(nbytes "$p")")" "$p"; }
f_raw() { printf '%s%s%s' "$(tag "$1" 2)" "$(varint "$(nbytes "$2")")" "$2"; } # field, escaped bytes
f_int() { printf '%s%s' "$(tag "$1" 0)" "$(varint "$2")"; }
f_dbl() { printf '%s%s' "$(tag "$1" 1)" "$(perl -e 'print pack("d<", $ARGV[0])' "$2" | od -An -tx1 -v | tr -d ' \n' | sed 's/../\\x&/g')"; }
emit() { printf "$2" >"$out/$1"; } # name, escaped bytes

# Event: id 1, source 2, type 3, time_ms 4, subject 5, attributes 6 (key 1, value 2),
# s3 10, stream 11, iot 12, data 13.
s3=$(f_str 1 photos)$(f_str 2 2026/cat.jpg)$(f_int 3 48213)$(f_str 4 9b2cf535f27731c974343645a3985328)$(f_str 6 0055AED6DCD90281E5)$(f_str 7 image/jpeg)$(f_str 8 ObjectCreated:Put)$(f_str 9 eu-west-1)
valid_s3=$(f_str 1 7f9c1d2e-0000-4000-8000-000000000001)$(f_int 2 1)$(f_str 3 s3:ObjectCreated:Put)$(f_int 4 1795757360123)$(f_str 5 photos/2026/cat.jpg)$(f_raw 6 "$(f_str 1 trace)$(f_str 2 abc123)")$(f_raw 10 "$s3")
emit valid-s3.pb "$valid_s3"

stream=$(f_str 1 orders)$(f_int 2 2)$(f_str 3 000000000001)$(f_str 4 '{"id":42}')$(f_str 5 '{"id":42,"total":10}')$(f_str 6 '{"id":42,"total":12.5}')$(f_int 7 1795757360000)
emit valid-stream.pb "$(f_str 1 ev-stream-1)$(f_int 2 2)$(f_str 3 stream:MODIFY)$(f_int 4 1795757360456)$(f_str 5 'orders/{"id":42}')$(f_raw 11 "$stream")"

# IotTelemetry: device_id 1, metric 2, value 3, unit 4, readings 5 (key 1, value 2), location 6.
iot=$(f_str 1 sensor-7)$(f_str 2 temperature)$(f_dbl 3 21.5)$(f_str 4 C)$(f_raw 5 "$(f_str 1 humidity)$(f_dbl 2 40.25)")$(f_raw 5 "$(f_str 1 pressure)$(f_dbl 2 1013.2)")$(f_raw 6 "$(f_dbl 1 52.52)$(f_dbl 2 13.405)$(f_dbl 3 34)")
emit valid-iot.pb "$(f_str 1 ev-iot-1)$(f_int 2 3)$(f_str 3 iot:telemetry)$(f_int 4 1795757360789)$(f_str 5 sensor-7)$(f_raw 12 "$iot")"

emit valid-custom.pb "$(f_str 1 ev-custom-1)$(f_int 2 4)$(f_str 3 custom:blob)$(f_raw 13 '\x00\x01\x02\xff\xfe\x7b\x0a')"
emit valid-unicode.pb "$(f_str 1 ev-ünï-🚀)$(f_str 3 s3:ObjectCreated:Put)$(f_str 5 'bücket/ключ/日本/🐱')$(f_raw 10 "$(f_str 1 bücket)$(f_str 2 'ключ/日本/🐱')")"
emit valid-minimal.pb "$(f_str 1 x)"
emit valid-empty-detail.pb "$(f_str 1 ev-empty-s3)$(f_raw 10 '')"
emit valid-cloudevent.json '{"specversion":"1.0","id":"ce-1","source":"evfleet/s3","type":"s3:ObjectCreated:Put","time":"2026-11-27T06:29:20.123+01:00","subject":"photos/cat.jpg","data":{"bucket":"photos","key":"cat.jpg","size":"12"},"tenant":"acme"}'

emit invalid-empty.pb ''
emit invalid-no-id.pb "$(f_str 3 s3:ObjectCreated:Put)$(f_raw 10 "$s3")"
truncated=${valid_s3:0:$((${#valid_s3} - 4 * 5))}
emit invalid-truncated.pb "$truncated"
emit invalid-utf8.pb "$(f_str 1 ev-bad)$(f_raw 5 'bad\xff\xfe')"
emit invalid-utf8-map-key.pb "$(f_str 1 ev-bad)$(f_raw 6 "$(f_raw 1 '\xc0\xaf')$(f_str 2 v)")"
emit invalid-nul.pb "$(f_str 1 ev-bad)$(f_raw 5 'a\x00b')"
emit invalid-huge-length.pb "$(f_str 1 ev-bad)\\x6a\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x7f\\x00"
emit invalid-group.pb "$(f_str 1 ev-bad)\\x7b\\x7c"
emit invalid-varint.pb "$(f_str 1 ev-bad)\\x20\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff"
emit invalid-cloudevent.json '{"specversion":"0.3","id":"ce-1","source":"x","type":"t"}'
ls -l "$out" | tail -n +2 | awk '{ printf "  %6d  %s\n", $5, $9 }'
