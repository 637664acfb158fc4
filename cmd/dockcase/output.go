package main

import (
	"github.com/dockcase/dockcase/cmd/dockcase/internal/outfile"
	"github.com/spf13/pflag"
)

// outputs is the guard of the files a run writes (package outfile).
type outputs struct{ *outfile.Guard }

// newOutputs starts the guard of a run; force is the command's --force.
func newOutputs(force bool) *outputs { return &outputs{outfile.NewGuard(force)} }

// input records an input file of the run; "" and "-" are ignored.
func (o *outputs) input(what, path string) { o.Input(what, path) }

// addForceFlag adds --force, which lets a command replace existing output
// files (never an input of the run).
func addForceFlag(fs *pflag.FlagSet, force *bool) {
	fs.BoolVar(force, "force", false, "replace existing output files (an input of the run is never replaced)")
}
