package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/dockcase/dockcase/bundle"
	"github.com/spf13/pflag"
	"golang.org/x/crypto/ssh"
	"golang.org/x/term"
)

// signOptions are the flags of a command that records a custody event.
type signOptions struct {
	key   string
	agent bool
}

func (o *signOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.key, "key", "", "sign the custody event with this OpenSSH private key `FILE`")
	fs.BoolVar(&o.agent, "agent", false, "sign the custody event with the first key of the SSH agent (SSH_AUTH_SOCK)")
}

// signer returns the key chosen by --key or --agent and a closer for it; a
// nil signer without either flag, and the event is recorded unsigned.
func (o *signOptions) signer() (ssh.Signer, func(), error) {
	switch {
	case o.key != "" && o.agent:
		return nil, nil, usagef("give --key or --agent, not both")
	case o.key != "":
		s, err := bundle.LoadSigner(o.key, ttyPassphrase(o.key))
		return s, func() {}, err
	case o.agent:
		s, c, err := bundle.AgentSigner(os.Getenv("SSH_AUTH_SOCK"))
		if err != nil {
			return nil, nil, err
		}
		return s, func() { c.Close() }, nil
	}
	return nil, func() {}, nil
}

// ttyPassphrase reads a key's passphrase from the terminal without echo.
func ttyPassphrase(path string) func() ([]byte, error) {
	return func() ([]byte, error) {
		tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
		if err != nil {
			return nil, errors.New("no terminal to ask the key's passphrase on")
		}
		defer tty.Close()
		fmt.Fprintf(tty, "Passphrase for %s: ", path)
		pass, err := term.ReadPassword(int(tty.Fd()))
		fmt.Fprintln(tty)
		return pass, err
	}
}

// custodyTrust is the trust that custody events are checked against: the
// keys of --allowed-signers allowed for the custody namespace, or the key of
// --fingerprint.
func (o *trustOptions) custodyTrust() (bundle.Trust, error) {
	var t bundle.Trust
	if o.allowedSigners != "" && o.fingerprint != "" {
		return t, usagef("give --allowed-signers or --fingerprint, not both")
	}
	if o.fingerprint != "" {
		if !strings.HasPrefix(o.fingerprint, "SHA256:") {
			return t, usagef("--fingerprint %q: want the SHA256:… form ssh-keygen -l prints", o.fingerprint)
		}
		t.Fingerprint = o.fingerprint
	}
	if o.allowedSigners != "" {
		f, err := os.Open(o.allowedSigners)
		if err != nil {
			return t, err
		}
		defer f.Close()
		keys, err := bundle.ParseAllowedSignersFor(f, bundle.CustodyNamespace)
		if err != nil {
			return t, fmt.Errorf("%s: %w", o.allowedSigners, err)
		}
		t.Keys = keys
	}
	return t, nil
}
