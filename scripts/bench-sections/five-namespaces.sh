#!/bin/sh
# The reference for `icelab up` + `down` (issue 11): what a hand-written script pays for a small NAT lab.
# Five namespaces (a public segment with a bridge, a TURN host, a router with a LAN, a host behind it,
# a public host), masquerade on the router, coturn in the TURN host until a STUN binding is answered,
# then everything removed. Run as root; prints nothing on success.
set -e
p=icebase$$
cfg=$(mktemp -d /tmp/icelab-bench-XXXXXX)
tpid=
trap '[ -n "$tpid" ] && kill $tpid 2>/dev/null; for n in pub turn rtr lan pubh; do ip netns del $p-$n 2>/dev/null; done; rm -rf $cfg' EXIT
trap 'exit 130' INT TERM
ip -b - <<X
netns add $p-pub
netns add $p-turn
netns add $p-rtr
netns add $p-lan
netns add $p-pubh
X
# A bridge is a switch: no netfilter on bridged frames (br_netfilter, loaded by Docker, would apply).
ip netns exec $p-pub sh -c 'for f in /proc/sys/net/bridge/bridge-nf-call-iptables /proc/sys/net/bridge/bridge-nf-call-arptables; do [ -e $f ] && echo 0 > $f; done; true'
ip -n $p-pub link add br0 type bridge
ip -n $p-pub link set br0 up
i=0
for n in turn rtr pubh; do
  i=$((i+1))
  ip -n $p-pub link add p$i type veth peer name eth0 netns $p-$n
  ip -n $p-pub link set p$i master br0 up
  ip -n $p-$n link set eth0 up
  ip -n $p-$n link set lo up
done
ip -n $p-turn addr add 198.18.0.10/15 dev eth0
ip -n $p-rtr addr add 198.18.2.1/15 dev eth0
ip -n $p-pubh addr add 198.18.1.1/15 dev eth0
ip -n $p-rtr link add lan0 type veth peer name eth0 netns $p-lan
ip -n $p-rtr addr add 10.1.0.1/24 dev lan0
ip -n $p-rtr link set lan0 up
ip -n $p-lan addr add 10.1.0.10/24 dev eth0
ip -n $p-lan link set eth0 up
ip -n $p-lan link set lo up
ip -n $p-lan route add default via 10.1.0.1
ip netns exec $p-rtr sysctl -qw net.ipv4.ip_forward=1
ip netns exec $p-rtr nft -f - <<X
table ip nat {
  chain post {
    type nat hook postrouting priority 100
    oifname "eth0" masquerade
  }
}
X
ip netns exec $p-turn turnserver -n --log-file=stdout --no-cli --listening-ip=198.18.0.10 --pidfile=$cfg/pid >$cfg/log 2>&1 &
tpid=$!
n=0
until ip netns exec $p-lan timeout 1 turnutils_stunclient 198.18.0.10 >/dev/null 2>&1; do
  n=$((n+1)); [ $n -lt 20 ] || { cat $cfg/log; exit 1; }; sleep 0.01
done
