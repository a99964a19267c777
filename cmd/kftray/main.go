// Command kftray manages Kubernetes port forwards for developers.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "kftray: under construction")
	os.Exit(1)
}
