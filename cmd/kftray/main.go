// Command kftray manages Kubernetes port forwards for developers.
package main

import (
	"os"

	"github.com/kftray-go/kftray/internal/cli"
	"github.com/kftray-go/kftray/internal/cli/cmdutil"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], cmdutil.System()))
}
