//go:build !linux || portable

package main

import (
	"runtime"

	"github.com/spf13/cobra"
)

// collectorBuilt says whether this build holds the live commands, collect
// and locate: only a Linux build does.
const collectorBuilt = false

func newCollectCmd() *cobra.Command {
	return newLinuxOnlyCmd("collect", "Snapshot this Docker host into a signed evidence bundle (as root, on Linux)")
}

// newLinuxOnlyCmd is the stand-in for a live command in a build without the
// Linux collector: whatever its arguments, it is a usage error that says
// where the command runs.
func newLinuxOnlyCmd(name, short string) *cobra.Command {
	return &cobra.Command{
		Use:   name,
		Short: short,
		Long: short + `.

` + name + ` reads the live kernel state of a Docker host (netlink, conntrack,
AF_PACKET, /proc): it runs on the Linux Docker host itself. This build holds
the offline commands, which read a bundle collected there.`,
		Args:               cobra.ArbitraryArgs,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return linuxOnly(name)
		},
	}
}

// linuxOnly is the usage error of a live command in this build.
func linuxOnly(name string) error {
	return usagef("%s runs on the Linux Docker host; this build (%s/%s) holds the offline commands only", name, runtime.GOOS, runtime.GOARCH)
}
