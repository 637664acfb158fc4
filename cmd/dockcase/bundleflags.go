package main

import (
	"fmt"
	"os"
	"strings"

	"filippo.io/age"
	"github.com/dockcase/dockcase/bundle"
	"github.com/spf13/pflag"
)

// trustOptions are the flags of every command that reads a bundle.
type trustOptions struct {
	allowedSigners string
	fingerprint    string
	identity       string
	// rec, set by runReading, receives what verification found.
	rec *readRecord
}

func (o *trustOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.allowedSigners, "allowed-signers", "", "trust the signers in `FILE` (ssh-keygen allowed_signers format)")
	fs.StringVar(&o.fingerprint, "fingerprint", "", "trust the signer with this SHA256:… `fingerprint` (from the case notes)")
	fs.StringVar(&o.identity, "identity", "", "age identity `FILE` to decrypt a .tar.zst.age bundle")
}

func (o *trustOptions) verifyOptions() (bundle.VerifyOptions, error) {
	var vo bundle.VerifyOptions
	if o.allowedSigners != "" && o.fingerprint != "" {
		return vo, usagef("give --allowed-signers or --fingerprint, not both")
	}
	if o.fingerprint != "" {
		if !strings.HasPrefix(o.fingerprint, "SHA256:") {
			return vo, usagef("--fingerprint %q: want the SHA256:… form ssh-keygen -l prints", o.fingerprint)
		}
		vo.Trust.Fingerprint = o.fingerprint
	}
	if o.allowedSigners != "" {
		f, err := os.Open(o.allowedSigners)
		if err != nil {
			return vo, err
		}
		defer f.Close()
		keys, err := bundle.ParseAllowedSigners(f)
		if err != nil {
			return vo, fmt.Errorf("%s: %w", o.allowedSigners, err)
		}
		vo.Trust.Keys = keys
	}
	if o.identity != "" {
		f, err := os.Open(o.identity)
		if err != nil {
			return vo, err
		}
		defer f.Close()
		ids, err := age.ParseIdentities(f)
		if err != nil {
			return vo, fmt.Errorf("%s: %w", o.identity, err)
		}
		vo.Identities = ids
	}
	return vo, nil
}

// signerLine says who signed and how far that is trusted.
func signerLine(res *bundle.Result) string {
	if res.Trusted {
		return res.Fingerprint + " (trusted)"
	}
	return res.Fingerprint + " (NOT YET TRUSTED: compare with the fingerprint in the case notes, then use --fingerprint)"
}
