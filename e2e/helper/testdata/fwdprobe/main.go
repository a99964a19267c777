// Command fwdprobe is the unprivileged forwarder of the helper e2e test: it
// runs kftray's forwarder with the helper binder for one service config and
// serves until its stdin closes.
//
//	fwdprobe SOCKET KUBECONFIG CONTEXT NAMESPACE SERVICE ALIAS
package main

import (
	"bufio"
	"context"
	"fmt"
	"os"

	"github.com/kftray-go/kftray/forwarder"
	"github.com/kftray-go/kftray/forwarder/helperbind"
	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/ipc/helperclient"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
}

func run(a []string) error {
	if len(a) != 6 {
		return fmt.Errorf("usage: fwdprobe SOCKET KUBECONFIG CONTEXT NAMESPACE SERVICE ALIAS")
	}
	binder := &helperbind.Binder{Options: helperclient.Options{Socket: a[0]}}
	defer binder.Close()
	m := forwarder.NewManager(forwarder.Options{Binder: binder})
	defer m.StopAll()
	cfg := fwdconfig.Config{
		ID: 1, Kubeconfig: a[1], Context: a[2], Namespace: a[3], Service: a[4], Alias: a[5],
		WorkloadType: "service", Protocol: "tcp", RemotePort: 80, LocalPort: 80,
		AutoLoopbackAddress: true, DomainEnabled: true,
	}
	if err := m.Start(context.Background(), cfg); err != nil {
		return err
	}
	fmt.Println("READY", m.Forward(1).Addr())
	s := bufio.NewScanner(os.Stdin)
	for s.Scan() {
	}
	return nil
}
