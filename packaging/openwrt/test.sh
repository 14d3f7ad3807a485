#!/bin/sh
# The OpenWrt init script's logic, run outside OpenWrt: /etc/rc.common and procd's shell
# functions are replaced by stubs that record what the script asks procd for, and the binary is
# the one built by cargo. Checks: a start translates the UCI file and declares the instance
# (command, respawn, files, reload trigger); a broken UCI file keeps the previous configuration;
# without a previous one the start fails. Not checked: procd itself (no OpenWrt here).
#
# Usage: packaging/openwrt/test.sh [BINARY]   (default target/debug/tr069-client)
set -eu
cd "$(dirname "$0")/../.."
bin=$(realpath "${1:-target/debug/tr069-client}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The stubs: every procd call is appended to $work/procd, one line each.
cat >"$work/stubs.sh" <<STUBS
procd_open_instance() { echo "open_instance" >>"$work/procd"; }
procd_close_instance() { echo "close_instance" >>"$work/procd"; }
procd_set_param() { echo "set_param \$*" >>"$work/procd"; }
procd_add_reload_trigger() { echo "reload_trigger \$*" >>"$work/procd"; }
logger() { echo "logger \$*" >>"$work/log"; }
STUBS

run() { # run FUNCTION: sources the script with the stubs and test paths, calls FUNCTION
  : >"$work/procd"
  # shellcheck disable=SC1091,SC2034 # the stubs are generated above; the paths are read by
  # the sourced script's functions
  (
    . "$work/stubs.sh"
    . packaging/openwrt/files/tr069-client.init
    PROG=$bin
    UCI_FILE=$work/uci
    CONF=$work/etc/config.toml
    "$@"
  )
}
fail() { echo "packaging/openwrt/test.sh: $*" >&2; exit 1; }

cp packaging/openwrt/files/tr069-client.config "$work/uci"
run start_service 2>"$work/err" || fail "start_service failed: $(cat "$work/err")"
grep -q '^\[settings\]' "$work/etc/config.toml" || fail "no configuration generated"
"$bin" --config "$work/etc/config.toml" get periodic-inform-interval --data-dir "$work/data" \
  | grep -qx 1h || fail "the generated configuration does not load"
grep -qx "set_param command $bin --config $work/etc/config.toml run" "$work/procd" \
  || fail "wrong command: $(cat "$work/procd")"
grep -qx 'set_param respawn 3600 5 0' "$work/procd" || fail "no respawn"
grep -qx "set_param file $work/uci $work/etc/config.toml" "$work/procd" || fail "no file trigger"
run service_triggers
grep -qx 'reload_trigger tr069-client' "$work/procd" || fail "no reload trigger"

# A broken value: the start goes on with the previous configuration, and says why.
before=$(cat "$work/etc/config.toml")
sed -i "s|option acs_url .*|option acs_url 'ftp://acs'|" "$work/uci"
run start_service 2>"$work/err" || fail "a broken UCI file stopped a configured agent"
grep -q 'tr069-client.settings.acs_url' "$work/log" || fail "the error is not logged: $(cat "$work/log")"
grep -q 'open_instance' "$work/procd" || fail "the instance is not declared"
[ "$(cat "$work/etc/config.toml")" = "$before" ] || fail "the previous configuration changed"

# The same without a previous configuration: no start.
rm "$work/etc/config.toml"
if run start_service 2>"$work/err"; then
  fail "started without any configuration"
fi
grep -q 'acs_url' "$work/err" || fail "no error on stderr"
echo "packaging/openwrt/test.sh: ok"
