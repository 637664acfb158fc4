package host

// The TCP sockets of a namespace over NETLINK_SOCK_DIAG: what the capture
// window's sampler reads every round, at a fraction of the cost of the
// /proc tables.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// DumpTCP dumps the TCP sockets (v4 and v6) of namespace ns over
// NETLINK_SOCK_DIAG, through a socket opened in it by way of the first of
// its processes still in it. Reading /proc/<pid>/net/tcp and tcp6 walks
// the host's whole established hash twice for every namespace (about 8 ms
// of CPU at 262144 buckets); one TCPDIAG_GETSOCK dump walks it once and
// costs about 1.3 ms. The sockets are as the tables show them, queues
// aside; an error that IsGone reports means no process was left in ns.
func (ns *Namespace) DumpTCP() ([]Socket, error) {
	err := fmt.Errorf("namespace %d: no process left: %w", ns.Inode, os.ErrNotExist)
	for _, pid := range ns.PIDs {
		var socks []Socket
		if socks, err = diagTCP(pid, ns.Inode); err == nil || !IsGone(err) {
			return socks, err
		}
	}
	return nil, err
}

func diagTCP(pid int, inode uint64) ([]Socket, error) {
	h, err := netns.GetFromPid(pid)
	if err != nil {
		return nil, fmt.Errorf("sock_diag in the net namespace of pid %d: %w", pid, err)
	}
	defer h.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(h), &st); err != nil {
		return nil, fmt.Errorf("sock_diag in the net namespace of pid %d: %w", pid, err)
	}
	if st.Ino != inode {
		return nil, fmt.Errorf("sock_diag: pid %d is in net namespace %d, not %d: %w", pid, st.Ino, inode, os.ErrNotExist)
	}
	sock, err := nl.GetNetlinkSocketAt(h, netns.None(), unix.NETLINK_INET_DIAG)
	if err != nil {
		return nil, fmt.Errorf("sock_diag in the net namespace of pid %d: %w", pid, err)
	}
	defer sock.Close()
	if socks, err := diagDumpTCP(sock); err == nil {
		return socks, nil
	}
	// A kernel without the old request: one dump per family.
	var socks []Socket
	for _, fam := range []uint8{unix.AF_INET, unix.AF_INET6} {
		list, err := nsRetry(func() ([]*netlink.Socket, error) { return diagDumpTCPFamily(sock, fam) })
		if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
			return nil, fmt.Errorf("sock_diag TCP in the net namespace of pid %d: %w", pid, err)
		}
		for _, d := range list {
			socks = append(socks, diagSocket(d))
		}
	}
	return socks, nil
}

// diagTCPGetSock is TCPDIAG_GETSOCK (include/uapi/linux/inet_diag.h),
// the request before SOCK_DIAG_BY_FAMILY: the kernel answers its dump for
// both families in one walk of the established hash, where the newer
// request walks the whole hash once per family.
const diagTCPGetSock = 18

// diagMsgBytes is the size of struct inet_diag_msg.
const diagMsgBytes = 72

// diagDumpTCP dumps every TCP socket of sock's namespace, v4 and v6, with
// one TCPDIAG_GETSOCK request (struct inet_diag_req: family, lengths,
// extensions, a zero socket id, the states, the tables).
func diagDumpTCP(sock *nl.NetlinkSocket) ([]Socket, error) {
	req := nl.NewNetlinkRequest(diagTCPGetSock, unix.NLM_F_DUMP)
	req.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_INET_DIAG: {Socket: sock}}
	body := make([]byte, 60)
	binary.NativeEndian.PutUint32(body[52:], 0xfff) // every state
	req.AddRawData(body)
	var socks []Socket
	var bad error
	err := req.ExecuteIter(unix.NETLINK_INET_DIAG, diagTCPGetSock, func(msg []byte) bool {
		d, err := diagParseMsg(msg)
		if err != nil {
			bad = err
			return false
		}
		socks = append(socks, diagSocket(d))
		return true
	})
	if err != nil && !errors.Is(err, nl.ErrDumpInterrupted) {
		return nil, err
	}
	return socks, bad
}

// diagDumpTCPFamily is netlink's SocketDiagTCP on sock.
func diagDumpTCPFamily(sock *nl.NetlinkSocket, fam uint8) ([]*netlink.Socket, error) {
	req := nl.NewNetlinkRequest(nl.SOCK_DIAG_BY_FAMILY, unix.NLM_F_DUMP)
	req.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_INET_DIAG: {Socket: sock}}
	body := make([]byte, 56) // struct inet_diag_req_v2
	body[0], body[1] = fam, unix.IPPROTO_TCP
	binary.NativeEndian.PutUint32(body[4:], 0xfff)
	req.AddRawData(body)
	var list []*netlink.Socket
	var bad error
	err := req.ExecuteIter(unix.NETLINK_INET_DIAG, nl.SOCK_DIAG_BY_FAMILY, func(msg []byte) bool {
		d, err := diagParseMsg(msg)
		if err != nil {
			bad = err
			return false
		}
		list = append(list, d)
		return true
	})
	if err == nil {
		err = bad
	}
	return list, err
}

// diagParseMsg decodes a struct inet_diag_msg.
func diagParseMsg(b []byte) (*netlink.Socket, error) {
	if len(b) < diagMsgBytes {
		return nil, fmt.Errorf("sock_diag message of %d bytes, want %d", len(b), diagMsgBytes)
	}
	d := &netlink.Socket{Family: b[0], State: b[1], Timer: b[2], Retrans: b[3]}
	d.ID.SourcePort = binary.BigEndian.Uint16(b[4:])
	d.ID.DestinationPort = binary.BigEndian.Uint16(b[6:])
	if d.Family == unix.AF_INET6 {
		d.ID.Source = net.IP(slices.Clone(b[8:24]))
		d.ID.Destination = net.IP(slices.Clone(b[24:40]))
	} else {
		d.ID.Source = net.IPv4(b[8], b[9], b[10], b[11])
		d.ID.Destination = net.IPv4(b[24], b[25], b[26], b[27])
	}
	d.RQueue = binary.NativeEndian.Uint32(b[56:])
	d.WQueue = binary.NativeEndian.Uint32(b[60:])
	d.UID = binary.NativeEndian.Uint32(b[64:])
	d.INode = binary.NativeEndian.Uint32(b[68:])
	return d, nil
}

// diagSocket is the socket a sock_diag message describes, as the
// /proc table would show it: "tcp6" addresses stay 16 bytes (::ffff:a.b.c.d).
// The queues are left out: the samples do not keep them, and a listener's
// mean another thing in each.
func diagSocket(d *netlink.Socket) Socket {
	so := Socket{Proto: "tcp", LocalPort: d.ID.SourcePort, RemotePort: d.ID.DestinationPort, UID: d.UID,
		Inode: uint64(d.INode)}
	local, _ := netip.AddrFromSlice(d.ID.Source.To16())
	remote, _ := netip.AddrFromSlice(d.ID.Destination.To16())
	if d.Family == unix.AF_INET6 {
		so.Proto = "tcp6"
	} else {
		local, remote = local.Unmap(), remote.Unmap()
	}
	so.LocalIP, so.RemoteIP = local.String(), remote.String()
	so.State = sockStates[uint64(d.State)]
	if so.State == "" {
		so.State = fmt.Sprintf("UNKNOWN(%d)", d.State)
	}
	return so
}
