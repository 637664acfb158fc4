//go:build !linux || portable

package main

import "github.com/spf13/cobra"

func newLocateCmd() *cobra.Command {
	return newLinuxOnlyCmd("locate", "Find the containers talking to an address, live (as root, on Linux)")
}
