package bundle

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

const (
	maxKeyFileBytes        = 64 << 10 // an OpenSSH private key is a few KiB even for RSA 16384
	maxAllowedSignersBytes = 4 << 20  // a lab's allowed_signers file: thousands of keys at most
)

// EphemeralSigner makes an Ed25519 key in memory. The private key is never
// written anywhere and is gone when the process ends; the bundle's signer.pub
// and the fingerprint printed at the end identify it.
func EphemeralSigner() (ssh.Signer, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate signing key: %w", err)
	}
	return ssh.NewSignerFromKey(priv)
}

// LoadSigner reads an OpenSSH private key file. When the key is encrypted,
// passphrase is called for the passphrase.
func LoadSigner(path string, passphrase func() ([]byte, error)) (ssh.Signer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	defer f.Close()
	pem, err := readLimited(f, maxKeyFileBytes, path)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	s, err := ssh.ParsePrivateKey(pem)
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		if passphrase == nil {
			return nil, fmt.Errorf("signing key %s is encrypted and no passphrase can be asked", path)
		}
		pass, perr := passphrase()
		if perr != nil {
			return nil, fmt.Errorf("signing key %s: passphrase: %w", path, perr)
		}
		s, err = ssh.ParsePrivateKeyWithPassphrase(pem, pass)
	}
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	return s, nil
}

// AgentSigner returns the first key of the SSH agent at sock (SSH_AUTH_SOCK)
// and a closer for the agent connection.
func AgentSigner(sock string) (ssh.Signer, io.Closer, error) {
	if sock == "" {
		return nil, nil, errors.New("ssh agent: SSH_AUTH_SOCK is not set")
	}
	conn, err := net.Dial("unix", sock)
	if err != nil {
		return nil, nil, fmt.Errorf("ssh agent: %w", err)
	}
	signers, err := agent.NewClient(conn).Signers()
	if err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("ssh agent: %w", err)
	}
	if len(signers) == 0 {
		conn.Close()
		return nil, nil, errors.New("ssh agent holds no keys")
	}
	return signers[0], conn, nil
}

// Trust says which signers a verification accepts. The zero value accepts the
// bundle's own signer.pub but reports the signer as not trusted.
type Trust struct {
	// Keys are trusted public keys, e.g. from an allowed_signers file.
	Keys []ssh.PublicKey
	// Fingerprint is a trusted key's SHA256:… fingerprint.
	Fingerprint string
}

func (t Trust) named() bool { return len(t.Keys) > 0 || t.Fingerprint != "" }

func (t Trust) trusts(pub ssh.PublicKey) bool {
	if t.Fingerprint != "" && ssh.FingerprintSHA256(pub) == t.Fingerprint {
		return true
	}
	for _, k := range t.Keys {
		if bytes.Equal(k.Marshal(), pub.Marshal()) {
			return true
		}
	}
	return false
}

// ParseAllowedSigners reads ssh-keygen's allowed_signers format
// ("principals [options] keytype base64 [comment]") and returns the keys
// allowed for the dockcase namespace. A file that allows none is an error.
func ParseAllowedSigners(r io.Reader) ([]ssh.PublicKey, error) {
	keys, err := ParseAllowedSignersFor(r, SignatureNamespace)
	if err == nil && len(keys) == 0 {
		return nil, fmt.Errorf("allowed signers: no key allowed for namespace %q", SignatureNamespace)
	}
	return keys, err
}

// ParseAllowedSignersFor reads an allowed_signers file as ParseAllowedSigners
// does and returns the keys allowed for namespace (CustodyNamespace for
// custody events), as ssh-keygen -Y verify -n namespace reads the file: a
// line without a namespaces= option allows every namespace. It may return no
// key and no error.
func ParseAllowedSignersFor(r io.Reader, namespace string) ([]ssh.PublicKey, error) {
	b, err := readLimited(r, maxAllowedSignersBytes, "allowed signers")
	if err != nil {
		return nil, err
	}
	var keys []ssh.PublicKey
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, maxAllowedSignersBytes)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		// The principals field may be quoted; it never holds spaces unquoted.
		rest := line
		if strings.HasPrefix(rest, `"`) {
			end := strings.Index(rest[1:], `"`)
			if end < 0 {
				return nil, fmt.Errorf("allowed signers line %d: unterminated quote", n)
			}
			rest = rest[end+2:]
		} else if _, after, ok := strings.Cut(rest, " "); ok {
			rest = after
		} else {
			return nil, fmt.Errorf("allowed signers line %d: no key", n)
		}
		pub, _, options, _, err := ssh.ParseAuthorizedKey([]byte(strings.TrimSpace(rest)))
		if err != nil {
			return nil, fmt.Errorf("allowed signers line %d: %w", n, err)
		}
		if !namespaceAllowed(options, namespace) {
			continue
		}
		keys = append(keys, pub)
	}
	return keys, nil
}

func namespaceAllowed(options []string, namespace string) bool {
	for _, o := range options {
		v, ok := strings.CutPrefix(strings.ToLower(o), "namespaces=")
		if !ok {
			continue
		}
		for _, ns := range strings.Split(strings.Trim(v, `"`), ",") {
			if ns == namespace || ns == "*" {
				return true
			}
		}
		return false
	}
	return true
}
