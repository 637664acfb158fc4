// Package traffic attributes captured traffic to containers: every flow of
// the bundle's captures (and of --pcap files, taken after the host's NAT)
// is given the container that sent or received it, with the rule that
// decided it, a confidence and the evidence, or is left "host or unknown"
// with the reason. The rules: the container's veth; the container that held
// the address then (a bridge); the conntrack entry of the snapshot or of
// the events, reversed through its reply tuple (after NAT); correlation
// with the pre-NAT flow; a published port's DNAT; a host-network
// container's socket. DNS answers are attributed the same way and give the
// flows their names.
//
// The flows are per capture point. Contacts (Result.Contacts) are the
// conversations, one each: the flows of one conversation at every point,
// the sockets of every namespace (the owner's cgroup naming a host-network
// container) and the conntrack snapshot (attributed through the holders of
// the pre-SNAT address at its dated time), fused; they are built without a
// capture too.
//
// Attribute takes the model and the capture inputs (Inputs lists them) and
// never the bundle: the captures are opened through the model.
package traffic
