//go:build !linux || portable

package main

import "github.com/spf13/cobra"

func newContainCmd() *cobra.Command {
	return newEngineOnlyCmd("contain", "Pause and disconnect containers of the case, recorded in its custody log (as root, on Linux)")
}

func newReleaseCmd() *cobra.Command {
	return newEngineOnlyCmd("release", "Undo a containment: reconnect and unpause, recorded in the custody log (as root, on Linux)")
}

// newEngineOnlyCmd is the stand-in for a containment command in a build
// without the Linux collector: whatever its arguments, it is a usage error
// that says where the command runs.
func newEngineOnlyCmd(name, short string) *cobra.Command {
	return &cobra.Command{
		Use:   name,
		Short: short,
		Long: short + `.

` + name + ` acts on the containers of the Docker engine of the host under
investigation, beside the case's bundle: it runs on the Linux Docker host
itself. This build holds the offline commands, which read a bundle
collected there.`,
		Args:               cobra.ArbitraryArgs,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return linuxOnly(name)
		},
	}
}
