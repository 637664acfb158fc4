package contain

// What contain and release read of the case's bundle: its container list,
// read a second time without extracting anything, and its custody log.

import (
	"archive/tar"
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"filippo.io/age"
	"github.com/dockcase/dockcase/bundle"
	"github.com/dockcase/dockcase/collect/docker"
	"github.com/klauspost/compress/zstd"
)

// maxContainersListBytes bounds the bundle's docker/containers.json: the
// collector writes about 300 B a container, so 64 MiB is some 200k.
const maxContainersListBytes = 64 << 20

// containersMember is the collector's list of every container.
const containersMember = "docker/containers.json"

// ageMagic opens an age-encrypted bundle.
const ageMagic = "age-encryption.org/v1"

// maxZstdWindowBytes caps the zstd window of the second read, as the
// bundle's verifier does: the writer uses 8 MiB windows.
const maxZstdWindowBytes = 64 << 20

// readVerifiedMember reads one small member of a bundle that res says
// verified, in a second pass that stops at the member and checks it against
// the verified manifest's SHA-256, so that nothing of the bundle is written
// to this host's disk (bundle.Open would extract every member, committed
// images included, on the very host under investigation).
func readVerifiedMember(path string, vo bundle.VerifyOptions, res *bundle.Result, member string, max int64) ([]byte, error) {
	want, ok := res.Manifest.Member(member)
	if !ok {
		return nil, fmt.Errorf("no %s in the bundle (the collection could not reach Docker?): it lists no container to act on", member)
	}
	if len(want.Chunks) > 0 || want.Size > max {
		return nil, fmt.Errorf("%s: %d bytes, more than the %d read", member, want.Size, max)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	var r io.Reader = br
	if head, _ := br.Peek(len(ageMagic)); string(head) == ageMagic {
		if r, err = age.Decrypt(br, vo.Identities...); err != nil {
			return nil, fmt.Errorf("decrypt bundle: %w", err)
		}
	}
	zr, err := zstd.NewReader(r, zstd.WithDecoderMaxWindow(maxZstdWindowBytes), zstd.WithDecoderConcurrency(1))
	if err != nil {
		return nil, fmt.Errorf("start zstd: %w", err)
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	name := res.Root + "/" + member
	for {
		hdr, err := tr.Next()
		if err != nil {
			return nil, fmt.Errorf("read %s again: %w", member, err)
		}
		if hdr.Name != name || hdr.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(io.LimitReader(tr, max+1))
		if err != nil {
			return nil, fmt.Errorf("read %s again: %w", member, err)
		}
		sum := sha256.Sum256(b)
		if int64(len(b)) != want.Size || hex.EncodeToString(sum[:]) != want.SHA256 {
			return nil, &bundle.IntegrityError{Member: member, Reason: "changed since the bundle was verified"}
		}
		return b, nil
	}
}

// CustodyRecords checks the custody log of the bundle at path against
// trust, signatures included; a bundle without a log has no records.
func CustodyRecords(path string, trust bundle.Trust) ([]bundle.CustodyRecord, error) {
	sum, err := bundle.FileSHA256(path)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(bundle.CustodyPath(path))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	recs, err := bundle.VerifyCustody(f, sum, trust)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", bundle.CustodyPath(path), err)
	}
	return recs, nil
}

// BundleContainers returns the container list (docker/containers.json) of
// the bundle at path, which res says verified with vo: the containers
// contain and release may act on.
func BundleContainers(path string, vo bundle.VerifyOptions, res *bundle.Result) ([]docker.ContainerRef, error) {
	raw, err := readVerifiedMember(path, vo, res, containersMember, maxContainersListBytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var list []docker.ContainerRef
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("%s: %s: %w", path, containersMember, err)
	}
	return list, nil
}
