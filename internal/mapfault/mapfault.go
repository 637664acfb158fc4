// Package mapfault turns the fault of reading a mapped file that shrank
// into a result the caller can report, instead of a crash.
//
// A file mapped into memory and truncated meanwhile loses the pages past
// its new end; reading one raises SIGBUS, which the Go runtime makes a
// fatal error unless the goroutine asked for faults to panic
// (debug.SetPanicOnFault). Run asks for that, for the function it calls,
// and recovers those panics only.
package mapfault

import "runtime/debug"

// Run calls fn on this goroutine with faults at unexpected addresses
// turned into panics, and reports whether fn ended in one (recovered). Any
// other panic goes on; the goroutine's setting is restored.
func Run(fn func()) (faulted bool) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(interface{ Addr() uintptr }); !ok {
				panic(r)
			}
			faulted = true
		}
	}()
	fn()
	return false
}
