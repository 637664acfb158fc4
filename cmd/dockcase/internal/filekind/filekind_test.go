package filekind

import "testing"

func TestSniff(t *testing.T) {
	for _, tc := range []struct {
		head []byte
		want Kind
	}{
		{[]byte{0xd4, 0xc3, 0xb2, 0xa1, 2, 0}, Pcap},
		{[]byte{0xa1, 0xb2, 0xc3, 0xd4, 0, 2}, Pcap},
		{[]byte{0x4d, 0x3c, 0xb2, 0xa1, 2, 0}, Pcap},
		{[]byte{0xa1, 0xb2, 0x3c, 0x4d, 0, 2}, Pcap},
		{[]byte{0x0a, 0x0d, 0x0d, 0x0a, 0x1c, 0}, Pcapng},
		{[]byte{0x1f, 0x8b, 8, 0}, Gzip},
		{[]byte{0x28, 0xb5, 0x2f, 0xfd, 0x04}, Zstd},
		{[]byte("age-encryption.org/v1\n-> X25519"), Age},
		{[]byte("{\n  \"version\": \"dockcase-analysis/v1\""), Analysis},
		{[]byte("IDS export\n"), Text},
		{[]byte("r\xc3\xa9seau coup\xc3"), Text},
		{nil, Empty},
		{[]byte{0, 1, 2, 3, 0xff, 0xfe}, Unknown},
	} {
		if got := Sniff(tc.head); got != tc.want {
			t.Errorf("Sniff(%q) = %v, want %v", tc.head, got, tc.want)
		}
	}
}
