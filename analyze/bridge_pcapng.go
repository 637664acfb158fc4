package analyze

import "github.com/dockcase/dockcase/internal/pcapng"

// A bridge for the move of the capture reader to internal/pcapng: the name
// attribution's tests still use unqualified. It goes when they call pcapng
// directly.
type CaptureInterface = pcapng.Interface
