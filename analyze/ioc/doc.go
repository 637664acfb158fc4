// Package ioc answers, for each indicator of compromise, who talked to it:
// the containers, namespace groups, candidate holders of an address and
// host processes (and the traffic no one is named for) whose conversations
// reached the indicator's address, prefix or domain (through DNS answers,
// TLS SNI and HTTP Host), when, how much, through which capture points,
// with which process, and by which path. It works on the contacts of
// package traffic (one per conversation, fused from the captures, the
// sockets and conntrack), so that a conversation counts once and is found
// without a capture; indicators are parsed by internal/indicator.
package ioc
