package analyze

import (
	"io"

	"github.com/dockcase/dockcase/internal/pcapng"
)

// A bridge for the move of the capture reader to internal/pcapng: these names
// keep the rest of analyze and its users compiling until they call pcapng
// directly.

type (
	LinkType         = pcapng.LinkType
	CaptureFormat    = pcapng.Format
	Record           = pcapng.Record
	CaptureInterface = pcapng.Interface
	CaptureError     = pcapng.Error
	CaptureReader    = pcapng.Reader
)

const (
	LinkTypeNull      = pcapng.LinkTypeNull
	LinkTypeEthernet  = pcapng.LinkTypeEthernet
	LinkTypeRawBSD12  = pcapng.LinkTypeRawBSD12
	LinkTypeRawBSD14  = pcapng.LinkTypeRawBSD14
	LinkTypeRaw       = pcapng.LinkTypeRaw
	LinkTypeLoop      = pcapng.LinkTypeLoop
	LinkTypeLinuxSLL  = pcapng.LinkTypeLinuxSLL
	LinkTypeIPv4      = pcapng.LinkTypeIPv4
	LinkTypeIPv6      = pcapng.LinkTypeIPv6
	LinkTypeLinuxSLL2 = pcapng.LinkTypeLinuxSLL2

	FormatPcap     = pcapng.FormatPcap
	FormatPcapNano = pcapng.FormatPcapNano
	FormatPcapNG   = pcapng.FormatPcapNG
)

// OpenCapture is pcapng.NewReader.
func OpenCapture(r io.Reader, name string) (*CaptureReader, error) { return pcapng.NewReader(r, name) }
