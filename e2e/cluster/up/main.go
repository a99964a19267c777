// Command up runs the dev cluster in the foreground with the demo workload,
// for people: scripts/devcluster/cluster up starts it in the background.
// It writes <dir>/kubeconfig, then <dir>/ready, and stops the cluster on
// SIGTERM or SIGINT.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/kftray-go/kftray/e2e/cluster"
)

func main() {
	dir := flag.String("dir", ".devcluster", "state directory: kubeconfig, logs, PKI, etcd data")
	bin := flag.String("bin", "", "devcluster binary (default: scripts/devcluster/bin/devcluster)")
	name := flag.String("context", "devcluster", "kubeconfig context name")
	flag.Parse()
	if err := run(*dir, *bin, *name); err != nil {
		fmt.Fprintln(os.Stderr, "devcluster up:", err)
		os.Exit(1)
	}
}

func run(dir, bin, name string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	// Each up is a fresh cluster: new PKI and an empty etcd.
	ready := filepath.Join(dir, "ready")
	for _, d := range []string{"ready", "etcd", "pki", "logs", "apiserver-certs", "kubeconfig", "kwok.yaml"} {
		if err := os.RemoveAll(filepath.Join(dir, d)); err != nil {
			return err
		}
	}
	start := time.Now()
	c, err := cluster.Start(ctx, cluster.Options{Binary: bin, Dir: dir, Context: name, StartTimeout: 2 * time.Minute})
	if err != nil {
		return err
	}
	defer c.Stop()
	fmt.Printf("cluster up in %v; kubeconfig %s (context %s)\n", time.Since(start).Round(time.Millisecond), c.Kubeconfig, c.Context)
	dctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := c.DeployDemo(dctx); err != nil {
		return fmt.Errorf("demo workload: %w", err)
	}
	fmt.Printf("demo workload ready in namespace %s after %v\n", cluster.DemoNamespace, time.Since(start).Round(time.Millisecond))
	pids := c.PIDs()
	info := fmt.Sprintf("kubeconfig=%s\ncontext=%s\ncontrol=%s\npid=%d\n", c.Kubeconfig, c.Context, c.ControlURL, os.Getpid())
	for _, n := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "kubelet"} {
		info += fmt.Sprintf("pid.%s=%d\n", n, pids[n])
	}
	if err := os.WriteFile(ready, []byte(info), 0o600); err != nil {
		return err
	}
	<-ctx.Done()
	fmt.Println("stopping")
	_ = os.Remove(ready)
	return nil
}
