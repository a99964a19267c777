// Command kftray-server is the relay kftray deploys into a cluster for UDP
// forwards and for hosts only the cluster can reach. See package relayserver.
package main

import (
	"os"

	"github.com/kftray-go/kftray/internal/envknob"
	"github.com/kftray-go/kftray/relayserver"
)

func main() {
	os.Exit(relayserver.Main(os.Args[1:], envknob.Get, os.Stderr))
}
