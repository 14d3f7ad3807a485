#!/usr/bin/env bash
# The Debian package, end to end, on the machine running it (CI: Debian 12, as root; called from
# .ci/run after the tests): build the .deb, install it with dpkg, check the installed files and
# the systemd unit, run the installed daemon by hand against the repository's scripted ACS until
# it sends its BOOTSTRAP Inform, then remove and purge it and check that nothing is left.
#
# It packages the *debug* build: `cargo deb --profile dev --no-build` takes the binary already
# in target/debug instead of building the release profile, whose fat LTO costs 5+ minutes on
# CI's 2 cores. (cargo-deb warns that dev profiles are deprecated; the version is pinned below.)
# The binary is rebuilt first with the package's own features: `cargo test --workspace` leaves
# one built with the chaos tests' `failpoints`, which must never be installed, even here.
# A release package is `cargo deb -p tr069-client` (packaging/README.md).
#
# Not covered: the unit is verified (systemd-analyze verify) but not started, because CI runs in
# a container where systemd is not PID 1; the daemon runs as the unit's ExecStart would, without
# its sandbox.
#
# Usage: packaging/debian/test.sh   (as root; it installs and then purges the package)
set -euo pipefail
cd "$(dirname "$0")/../.."
start=$SECONDS

CARGO_DEB_VERSION=3.8.0
if ! cargo deb --version 2>/dev/null | grep -qF "$CARGO_DEB_VERSION"; then
  cargo install cargo-deb --locked --version "$CARGO_DEB_VERSION"
fi
if ! command -v systemd-analyze >/dev/null; then
  apt-get install -y -q systemd
fi
if dpkg -s tr069-client >/dev/null 2>&1; then
  echo "tr069-client is already installed here; this test installs and purges it" >&2
  exit 1
fi

work=$(mktemp -d)
acs_pid=""
agent_pid=""
cleanup() {
  for pid in $agent_pid $acs_pid; do
    kill "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  if dpkg -s tr069-client >/dev/null 2>&1; then
    dpkg -P tr069-client >/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "-- build and package"
cargo build --locked -p tr069-client --bin tr069-client --features xmpp,html-report
cargo build --locked -p chaos-tests --bin scripted-acs
rm -rf target/debian
cargo deb -p tr069-client --profile dev --no-build --locked -o target/debian/
deb=$(echo target/debian/tr069-client_*.deb)
test -f "$deb"
echo "package: $deb ($(stat -c %s "$deb") bytes)"

echo "-- install"
dpkg -i "$deb"

# Every file of the package is installed, except what the machine's dpkg excludes (Debian's
# container images drop /usr/share/man and most of /usr/share/doc with path-exclude).
excludes=$(sed -n 's/^path-exclude[= ]*//p' /etc/dpkg/dpkg.cfg.d/* 2>/dev/null || true)
while read -r path; do
  path=${path#.}
  excluded=no
  for pattern in $excludes; do
    # shellcheck disable=SC2254 # the pattern is a glob on purpose
    case "$path" in $pattern) excluded=yes ;; esac
  done
  if [ "$excluded" = no ] && [ ! -e "$path" ]; then
    echo "not installed: $path" >&2
    exit 1
  fi
done < <(dpkg-deb -c "$deb" | awk '$1 !~ /^d/ { print $6 }')
test -x /usr/bin/tr069-client
grep -qx /etc/tr069-client/config.toml /var/lib/dpkg/info/tr069-client.conffiles
test "$(stat -c %a /etc/tr069-client/config.toml)" = 600
unit=/usr/lib/systemd/system/tr069-client.service
test -f "$unit"
for needed in 'Restart=always' 'StateDirectory=tr069-client' 'ProtectSystem=strict' \
  'NoNewPrivileges=yes' 'CapabilityBoundingSet=CAP_NET_RAW' 'SuccessExitStatus=3' \
  'ExecStart=/usr/bin/tr069-client --config /etc/tr069-client/config.toml run'; do
  grep -qxF "$needed" "$unit" || { echo "$unit lacks $needed" >&2; exit 1; }
done
/usr/bin/tr069-client --version
/usr/bin/tr069-client --help >/dev/null

echo "-- systemd-analyze verify"
man_check=--man=no
if [ -e /usr/share/man/man8/tr069-client.8.gz ] && command -v man >/dev/null; then
  man_check=--man=yes
fi
systemd-analyze verify "$man_check" "$unit"

echo "-- the installed daemon against the scripted ACS"
target/debug/scripted-acs --listen 127.0.0.1:0 --print-sessions >"$work/acs.out" 2>"$work/acs.err" &
acs_pid=$!
for _ in $(seq 100); do
  [ -s "$work/acs.out" ] && break
  sleep 0.1
done
acs_url=$(head -n1 "$work/acs.out")
case "$acs_url" in http://*) ;; *) echo "the scripted ACS did not start" >&2; cat "$work/acs.err" >&2; exit 1 ;; esac
# The conffile as shipped, plus the ACS; port 0 so that the test never collides with
# anything on the machine's 7547.
cat >>/etc/tr069-client/config.toml <<EOF

# Added by packaging/debian/test.sh
[settings]
enabled = "yes"
acs-url = "$acs_url"
connection-request-port = 0
EOF
sed -i '0,/^\[settings\]$/{/^\[settings\]$/d}' /etc/tr069-client/config.toml
/usr/bin/tr069-client --config /etc/tr069-client/config.toml get acs-url | grep -qxF "$acs_url"
# What the unit does before ExecStart (StateDirectory=tr069-client, StateDirectoryMode=0700).
install -d -m 0700 /var/lib/tr069-client
/usr/bin/tr069-client --config /etc/tr069-client/config.toml run 2>"$work/agent.err" &
agent_pid=$!
seen=no
for _ in $(seq 150); do
  if grep -q '^session .*events=.*0 BOOTSTRAP' "$work/acs.out"; then
    seen=yes
    break
  fi
  kill -0 "$agent_pid" 2>/dev/null || break
  sleep 0.2
done
if [ "$seen" != yes ]; then
  echo "no BOOTSTRAP Inform reached the scripted ACS" >&2
  cat "$work/acs.out" "$work/acs.err" "$work/agent.err" >&2
  exit 1
fi
grep '^session' "$work/acs.out"
# The CLI reaches the daemon through its control socket in the state directory.
/usr/bin/tr069-client --config /etc/tr069-client/config.toml print >/dev/null
kill -TERM "$agent_pid"
status=0
wait "$agent_pid" || status=$?
agent_pid=""
test "$status" -eq 0 || { echo "the daemon exited $status on SIGTERM" >&2; cat "$work/agent.err" >&2; exit 1; }

echo "-- remove, then purge"
dpkg -r tr069-client
test ! -e /usr/bin/tr069-client
test ! -e "$unit"
# Policy: a removed package keeps its (modified) conffile and state until purged.
test -e /etc/tr069-client/config.toml
dpkg -P tr069-client
# /var/cache/man is man-db's cache (systemd-analyze --man=yes formatted the page): man-db owns
# and expires it, not this package.
left=$(find /etc /usr /var/lib /var/cache /run -path /var/cache/man -prune -o \
  -name '*tr069-client*' -print 2>/dev/null || true)
if [ -n "$left" ]; then
  echo "left after purge:" >&2
  echo "$left" >&2
  exit 1
fi
test "$(dpkg-query -W -f='${db:Status-Status}' tr069-client 2>/dev/null || echo not-installed)" \
  = not-installed

echo "packaging/debian/test.sh: ok in $((SECONDS - start)) s"
