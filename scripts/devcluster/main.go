// Command devcluster is a multi-call binary holding a real Kubernetes control
// plane for kftray's end-to-end tests, benchmarks and demo: the upstream
// kube-apiserver, kube-controller-manager and kube-scheduler, an embedded
// etcd, KWOK for node and pod status, and a pod-faithful kubelet
// port-forward server. The first argument names the component; the rest are
// that component's own flags. The e2e/cluster package runs it.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	_ "time/tzdata" // CronJob time zones, as upstream's mains do

	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
)

var commands = map[string]func(args []string) int{
	"etcd":                    runEtcd,
	"kube-apiserver":          runAPIServer,
	"kube-controller-manager": runControllerManager,
	"kube-scheduler":          runScheduler,
	"kwok":                    runKwok,
	"kubelet":                 runKubelet,
}

func main() {
	// Called through a symlink named for a component, or as "devcluster <component>".
	name := filepath.Base(os.Args[0])
	args := os.Args[1:]
	if _, ok := commands[name]; !ok {
		if len(args) == 0 {
			usage()
			os.Exit(2)
		}
		name, args = args[0], args[1:]
	}
	run, ok := commands[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "devcluster: unknown component %q\n", name)
		usage()
		os.Exit(2)
	}
	// Upstream commands read os.Args through cobra; make them see their own name.
	os.Args = append([]string{name}, args...)
	os.Exit(run(args))
}

func usage() {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	slices.Sort(names)
	fmt.Fprintf(os.Stderr, "usage: devcluster <%s> [flags]\n", strings.Join(names, "|"))
}
