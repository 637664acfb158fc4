package host

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
)

// Namespace is one network namespace of the host and the processes in it,
// as netns/index.json lists it.
type Namespace struct {
	Inode      uint64   `json:"inode"`
	Host       bool     `json:"host"`
	PID        int      `json:"pid"`  // the process whose namespace was read
	PIDs       []int    `json:"pids"` // every process in it
	Containers []string `json:"containers,omitempty"`
	// Orphan is a namespace that is not the host's and holds no container
	// process: worth a look.
	Orphan bool   `json:"orphan,omitempty"`
	Error  string `json:"error,omitempty"`
}

// GroupNamespaces groups procs by network namespace, the host's (inode
// hostNetNS) first, then by inode. The collector's own process comes first
// in its namespace's PIDs, so that the host's is read through ourselves; a
// namespace's containers are in the order of their first process. A
// process whose namespace could not be read (inode 0) is left out.
func GroupNamespaces(procs []Process, hostNetNS uint64) []*Namespace {
	g := nsGrouper{host: hostNetNS, byNS: map[uint64]*Namespace{}}
	for _, p := range procs {
		ns := g.add(p.PID, p.Namespaces.Net)
		if ns != nil && p.ContainerID != "" && !slices.Contains(ns.Containers, p.ContainerID) {
			ns.Containers = append(ns.Containers, p.ContainerID)
		}
	}
	for _, ns := range g.list {
		ns.Orphan = !ns.Host && len(ns.Containers) == 0
	}
	sort.Slice(g.list, func(i, j int) bool {
		if g.list[i].Host != g.list[j].Host {
			return g.list[i].Host
		}
		return g.list[i].Inode < g.list[j].Inode
	})
	return g.list
}

// ScanNamespaces is the quick grouping for a caller that polls: it reads
// only /proc/<pid>/ns/net of each process, so the namespaces carry their
// PIDs (ascending) but no containers. They are in the order of their lowest
// PID; a process that exits meanwhile is left out.
func ScanNamespaces(hostNetNS uint64) ([]*Namespace, error) {
	pids, err := ListPIDs()
	if err != nil {
		return nil, err
	}
	g := nsGrouper{host: hostNetNS, byNS: map[uint64]*Namespace{}}
	for _, pid := range pids {
		if ino, err := NetNSInode(pid); err == nil {
			g.add(pid, ino)
		}
	}
	return g.list, nil
}

// nsGrouper is the one grouping of processes by network namespace.
type nsGrouper struct {
	host uint64
	byNS map[uint64]*Namespace
	list []*Namespace // in order of their first process
}

// add puts pid in namespace ino and returns it; inode 0 (unknown) is left
// out. The collector's own process goes first, so that a namespace is read
// through ourselves where we are in it.
func (g *nsGrouper) add(pid int, ino uint64) *Namespace {
	if ino == 0 {
		return nil
	}
	ns := g.byNS[ino]
	if ns == nil {
		ns = &Namespace{Inode: ino, Host: ino == g.host, PID: pid}
		g.byNS[ino] = ns
		g.list = append(g.list, ns)
	}
	if pid == os.Getpid() {
		ns.PIDs = append([]int{pid}, ns.PIDs...)
	} else {
		ns.PIDs = append(ns.PIDs, pid)
	}
	return ns
}

// ReadNetNS reads the namespace through one of its processes, trying the
// next when that process has exited meanwhile; a PID whose number now names
// a process in another namespace counts as exited. ns.PID is set to the
// process it was read through.
func (ns *Namespace) ReadNetNS() (NetNS, error) {
	var n NetNS
	var err error
	for _, pid := range ns.PIDs {
		n, err = ReadNetNS(pid)
		if n.Inode != 0 && n.Inode != ns.Inode {
			err = fmt.Errorf("pid %d is in net namespace %d now, not %d: %w", pid, n.Inode, ns.Inode, os.ErrNotExist)
			n = NetNS{}
		}
		if err == nil || !IsGone(err) {
			ns.PID = pid
			return n, err
		}
	}
	return n, err
}

// ReadSockets reads the namespace's socket tables through the first of its
// processes still in it.
func (ns *Namespace) ReadSockets() ([]Socket, error) { return ns.ReadSocketTables(sockTables) }

// ReadSocketTables is ReadSockets for the /proc/<pid>/net tables named in
// tables only.
func (ns *Namespace) ReadSocketTables(tables []string) ([]Socket, error) {
	var socks []Socket
	err := fmt.Errorf("namespace %d: no process left", ns.Inode)
	for _, pid := range ns.PIDs {
		if socks, err = ReadProcSocketTables(pid, ns.Inode, tables); err == nil || !IsGone(err) {
			return socks, err
		}
	}
	return socks, err
}

// IsGone reports whether err says that a process or one of its files has
// gone: the process exited while it was read.
func IsGone(err error) bool {
	return errors.Is(err, os.ErrNotExist) || strings.Contains(err.Error(), "no such process")
}
