package store_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/store"
)

// How the daemon uses the store: open, read configs, record state, clean
// up its own state on exit.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "kftray-example")
	defer os.RemoveAll(dir)

	s, err := store.Open(ctx, dir) // dir is paths.ConfigDir("") in real code
	if err != nil {
		log.Fatal(err) // names the file and what to do
	}
	defer s.Close()

	web := &fwdconfig.Config{Alias: "web.dev.test", DomainEnabled: true, Namespace: "dev",
		WorkloadType: fwdconfig.WorkloadService, Service: "web", RemotePort: 80, LocalPort: 80}
	if err := s.AddConfig(ctx, web); err != nil {
		log.Fatal(err)
	}

	pid := os.Getpid()
	err = s.PutState(ctx, &store.State{ConfigID: web.ID, Status: fwdconfig.StatusRunning, PID: pid,
		LocalAddr: "127.0.0.2:80", Pod: "web-7d9f-abcde"})
	if err != nil {
		log.Fatal(err)
	}
	states, _ := s.GetStates(ctx)
	fmt.Println(states[0].Status, states[0].LocalAddr)

	n, _ := s.ClearStates(ctx, pid)
	fmt.Println("cleared", n)
	// Output:
	// running 127.0.0.2:80
	// cleared 1
}
