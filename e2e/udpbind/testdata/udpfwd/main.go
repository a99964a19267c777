// Command udpfwd is the unprivileged forwarder of the udpbind e2e test: it
// runs kftray's forwarder with the helper binder for one UDP service config
// (local port 53, an allocated loopback address, the alias in the hosts
// file), prints "READY ip:port", and serves until its stdin closes.
//
//	udpfwd SOCKET KUBECONFIG CONTEXT NAMESPACE SERVICE ALIAS ANNOTATION=VALUE
//
// The annotation goes on the relay pod (the dev cluster reads it to send
// the pod's port-forwards to a kftray-server process the test runs).
package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/kftray-go/kftray/forwarder"
	"github.com/kftray-go/kftray/forwarder/helperbind"
	"github.com/kftray-go/kftray/forwarder/relay"
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
	if len(a) != 7 {
		return fmt.Errorf("usage: udpfwd SOCKET KUBECONFIG CONTEXT NAMESPACE SERVICE ALIAS ANNOTATION=VALUE")
	}
	key, value, _ := strings.Cut(a[6], "=")
	binder := &helperbind.Binder{Options: helperclient.Options{Socket: a[0]}}
	defer binder.Close()
	m := forwarder.NewManager(forwarder.Options{Binder: binder, Relay: relay.Options{
		Owner: relay.Owner{User: "e2e", Host: "devcluster", Session: "udpbind"},
		Image: "ghcr.io/kftray-go/kftray-server:e2e", ReadyTimeout: time.Minute,
		PodAnnotations: map[string]string{key: value},
	}})
	defer m.StopAll()
	cfg := fwdconfig.Config{
		ID: 1, Kubeconfig: a[1], Context: a[2], Namespace: a[3], Service: a[4], Alias: a[5],
		WorkloadType: "service", Protocol: "udp", RemotePort: 53, LocalPort: 53,
		AutoLoopbackAddress: true, DomainEnabled: true,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := m.Start(ctx, cfg); err != nil {
		return err
	}
	fmt.Println("READY", m.Forward(1).State().Address)
	s := bufio.NewScanner(os.Stdin)
	for s.Scan() {
	}
	return nil
}
