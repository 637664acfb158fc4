package analyze

import "github.com/dockcase/dockcase/analyze/layer"

// Bridge for the move of the committed-layer reader to analyze/layer: the
// names the rest of this package and its users still use. It goes when the
// stages that read layers move to their own packages.
type (
	Layer     = layer.Layer
	LayerFile = layer.File
)

const (
	LayerRegular  = layer.Regular
	LayerDir      = layer.Dir
	LayerSymlink  = layer.Symlink
	LayerHardlink = layer.Hardlink
	LayerOther    = layer.Other
	LayerWhiteout = layer.Whiteout
	LayerOpaque   = layer.Opaque
)

var ReadTopLayer = layer.ReadTop
