// Package pcapng reads pcap and pcapng captures and writes pcapng.
//
// The reader (NewReader) takes libpcap files of either byte order and
// timestamp precision and pcapng files of any number of sections, and hands
// out one Record at a time without allocating; every length it reads is
// bounded, since a capture may come from the attacker's host.
//
// The writer side has two levels. The block encoders (AppendSectionHeader,
// AppendInterface, AppendStatistics, AppendPacket, PutFlaggedPacket) append
// or write one little-endian block into a caller's buffer and allocate
// nothing per packet: the live collector encodes packets straight into its
// output buffers with them. Writer is a small streaming writer built on the
// encoders, for tools that write a capture from records.
//
// LinkType is the one link-type type of the module: the 16-bit LINKTYPE_*
// value of the tcpdump.org registry, as a pcapng interface block stores it.
package pcapng

// Block types (draft-ietf-opsawg-pcapng, section 11.1).
const (
	BlockSectionHeader  = 0x0a0d0d0a
	BlockInterface      = 1
	BlockPacket         = 2 // obsolete packet block, read only
	BlockSimplePacket   = 3
	BlockStatistics     = 5
	BlockEnhancedPacket = 6
)

// ByteOrderMagic is the section header's byte-order magic.
const ByteOrderMagic uint32 = 0x1a2b3c4d

// Option codes. Codes are per block type: the prefix names the block.
const (
	OptEnd     = 0 // opt_endofopt
	OptComment = 1 // opt_comment, in every block

	OptSHBHardware = 2 // shb_hardware
	OptSHBOS       = 3 // shb_os
	OptSHBUserApp  = 4 // shb_userappl

	OptIfName        = 2  // if_name
	OptIfDescription = 3  // if_description
	OptIfTSResol     = 9  // if_tsresol
	OptIfFilter      = 11 // if_filter
	OptIfTSOffset    = 14 // if_tsoffset

	OptEPBFlags = 2 // epb_flags

	OptISBStartTime = 2 // isb_starttime
	OptISBEndTime   = 3 // isb_endtime
	OptISBIfRecv    = 4 // isb_ifrecv
	OptISBIfDrop    = 5 // isb_ifdrop
	OptISBOSDrop    = 7 // isb_osdrop
	OptISBUsrDeliv  = 8 // isb_usrdeliv
)

// TSResolNanoseconds is the if_tsresol value of nanosecond timestamps, the
// resolution every block encoder here writes.
const TSResolNanoseconds = 9
