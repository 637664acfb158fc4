package bundle

import (
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"unicode"
)

// IntegrityError reports evidence that does not match the signed manifest:
// a member whose size or hash differs, one that is missing, or one that the
// manifest does not list.
type IntegrityError struct {
	Member string
	Reason string
}

func (e *IntegrityError) Error() string {
	return fmt.Sprintf("integrity: member %q: %s", e.Member, e.Reason)
}

// SignatureError reports a signature that does not verify, or a signer that
// is not among the trusted ones.
type SignatureError struct {
	Reason string
	Err    error
}

func (e *SignatureError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("signature: %s: %v", e.Reason, e.Err)
	}
	return "signature: " + e.Reason
}

func (e *SignatureError) Unwrap() error { return e.Err }

// FormatError reports a bundle that breaks the format's structural rules:
// a traversal path, a link member, a duplicate, a truncated stream, a limit
// exceeded. Member is empty when the fault is not in one member.
type FormatError struct {
	Member string
	Reason string
	Err    error
}

func (e *FormatError) Error() string {
	s := "format: "
	if e.Member != "" {
		s += fmt.Sprintf("member %q: ", e.Member)
	}
	s += e.Reason
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *FormatError) Unwrap() error { return e.Err }

// VersionError reports a bundle of a major version this reader does not know.
type VersionError struct {
	Version string
}

func (e *VersionError) Error() string {
	return fmt.Sprintf("bundle version %q is not supported (this dockcase reads %s and %s)", e.Version, Magic, MagicV1)
}

// IsIntegrity reports whether err means the bundle failed verification:
// tampering, corruption or an untrusted signer, as opposed to an I/O or usage
// problem.
func IsIntegrity(err error) bool {
	var ie *IntegrityError
	var se *SignatureError
	var fe *FormatError
	return errors.As(err, &ie) || errors.As(err, &se) || errors.As(err, &fe)
}

// checkName reports why p cannot be a member path.
func checkName(p string) error {
	switch {
	case p == "":
		return errors.New("empty path")
	case len(p) > maxNameBytes:
		return fmt.Errorf("path longer than %d bytes", maxNameBytes)
	case !filepath.IsLocal(p) || path.Clean(p) != p:
		return fmt.Errorf("path %q is not a clean local path", truncate(p, 128))
	}
	for _, r := range p {
		if unicode.IsControl(r) || r == '\\' {
			return fmt.Errorf("path %q holds a control character or backslash", truncate(p, 128))
		}
	}
	return nil
}
