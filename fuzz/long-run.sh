#!/usr/bin/env bash
# The long fuzzing runs of FUZZING.md: every target in turn, one process each (no -jobs or
# -workers: those fork children that all write ./fuzz-0.log, so two targets run side by side
# from this directory would share one log), until 10^7 executions or its time cap, with
# AddressSanitizer and leak detection, a 1 s timeout and a 2 GB RSS limit. The corpus grows in
# fuzz/corpus/<target> (not committed); findings land in fuzz/artifacts/<target>/.
#
#   fuzz/long-run.sh                  # every target, default caps
#   fuzz/long-run.sh manifest 600     # one target, at most 600 s
#
# Runs the binaries `cargo fuzz build -O` made (build first: RUSTC_BOOTSTRAP=1 cargo fuzz build -O).
set -uo pipefail
cd "$(dirname "$0")" || exit 1
BIN=target/x86_64-unknown-linux-gnu/release
RUNS=${FUZZ_RUNS:-10000000}

dict_of() {
  case "$1" in
    envelope_decode|manifest|xmpp_stanza) echo "-dict=dict/xml.dict" ;;
    cr_http|cr_digest|acs_http|file_http|udp_cr) echo "-dict=dict/http.dict" ;;
    *) echo "" ;;
  esac
}

run() {
  local t=$1 cap=$2
  mkdir -p "corpus/$t" "artifacts/$t" logs
  echo "== $t (at most $RUNS runs, $cap s) $(date -u +%FT%TZ)"
  # shellcheck disable=SC2046
  "$BIN/$t" "corpus/$t" "seeds/$t" $(dict_of "$t") -runs="$RUNS" \
    -max_total_time="$cap" -timeout=1 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="artifacts/$t/" > "logs/$t.log" 2>&1
  local rc=$?
  echo "   exit $rc: $(grep -E '^stat::number_of_executed_units|^stat::average_exec_per_sec|^stat::peak_rss_mb' "logs/$t.log" | tr '\n' ' ')"
  grep -E '^==[0-9]+==ERROR|^SUMMARY|panicked at|Test unit written' "logs/$t.log" | head -5
}

if [ $# -ge 1 ]; then
  run "$1" "${2:-3600}"
  exit
fi
run journal_frame 1800
run envelope_decode 3600
run config_file 2700
run manifest 2700
run config_toml 4500
run external_reply 4500
run cr_http 7200
run cr_digest 7200
run acs_http 7200
run file_http 7200
run journal_store 3600
run udp_cr 3600
run stun_response 3600
run xmpp_stanza 3600
run dns_reply 3600
