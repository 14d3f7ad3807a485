#!/bin/sh
# The NAT of chaos-tests/src/netns.rs, by hand, for running GenieACS outside and the agent inside.
#
#   gnat-cpe                   gnat-rtr                          gnat-acs
#   192.168.77.2 -- veth -- 192.168.77.1 | 198.18.77.1 -- veth -- 198.18.77.2
#   (agent)                  MASQUERADE --random-fully           (GenieACS, coturn, prosody)
#
# gnat-acs has no route to 192.168.77.0/24: only what the NAT lets back in reaches the agent.
# Usage: nat-lab.sh up | down      (root; needs ip, iptables)
set -eu
P=${NAT_PREFIX:-gnat}
case "${1:-}" in
up)
    for ns in cpe rtr acs; do ip netns add "$P-$ns"; ip -n "$P-$ns" link set lo up; done
    ip link add "${P}la" type veth peer name "${P}lb"
    ip link set "${P}la" netns "$P-cpe"; ip link set "${P}lb" netns "$P-rtr"
    ip link add "${P}wa" type veth peer name "${P}wb"
    ip link set "${P}wa" netns "$P-rtr"; ip link set "${P}wb" netns "$P-acs"
    ip -n "$P-cpe" addr add 192.168.77.2/24 dev "${P}la"; ip -n "$P-cpe" link set "${P}la" up
    ip -n "$P-cpe" route add default via 192.168.77.1
    ip -n "$P-rtr" addr add 192.168.77.1/24 dev "${P}lb"; ip -n "$P-rtr" link set "${P}lb" up
    ip -n "$P-rtr" addr add 198.18.77.1/24 dev "${P}wa"; ip -n "$P-rtr" link set "${P}wa" up
    ip -n "$P-acs" addr add 198.18.77.2/24 dev "${P}wb"; ip -n "$P-acs" link set "${P}wb" up
    ip netns exec "$P-rtr" sysctl -qw net.ipv4.ip_forward=1
    ip netns exec "$P-rtr" iptables -t nat -A POSTROUTING -o "${P}wa" -j MASQUERADE --random-fully
    echo "NAT lab up: $P-cpe $P-rtr $P-acs"
    ;;
down)
    for ns in cpe rtr acs; do ip netns del "$P-$ns" 2>/dev/null || true; done
    ;;
*) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
