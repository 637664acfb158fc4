// Command dockcase collects evidence from a Docker host and analyses it.
package main

import "os"

func main() {
	stop := startProfile(os.Stderr)
	code := Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
