package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	fwdaemon "github.com/kftray-go/kftray/forwarder/daemon"
	"github.com/kftray-go/kftray/store"
)

// unreachableKubeconfig names an API server nothing listens on: forwards
// start, listen and retry with the reason in their state. (Forwarding
// bytes through a cluster is tested in forwarder/daemon with the
// in-process cluster and in e2e/ with the dev cluster.)
const unreachableKubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: nowhere
  cluster: {server: "https://127.0.0.1:1"}
users:
- name: u
  user: {token: t}
contexts:
- name: nowhere
  context: {cluster: nowhere, user: u}
current-context: nowhere
`

// TestDaemonScripts runs testdata/daemon/*.txtar: start, stop, status, run
// and the daemon commands, with real daemon processes started on demand.
func TestDaemonScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/daemon",
		Setup: func(env *testscript.Env) error {
			// A short config directory: unix socket paths are limited.
			dir, err := os.MkdirTemp("", "kfs")
			if err != nil {
				return err
			}
			env.Setenv("KFTRAY_CONFIG", dir)
			kc := filepath.Join(env.WorkDir, "kubeconfig")
			if err := os.WriteFile(kc, []byte(unreachableKubeconfig), 0o600); err != nil {
				return err
			}
			env.Setenv("KUBECONFIG", kc)
			// Whatever the script did, no daemon outlives it.
			env.Defer(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				if _, err := fwdaemon.StopRunning(ctx, dir, 15*time.Second); err != nil {
					env.T().Log(err)
				}
				os.RemoveAll(dir)
			})
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"wait-status": waitStatus,
		},
	})
}

// wait-status NAME STATUS [ERROR-REGEXP]: wait (at most 15 s) until the
// store says the forward of config NAME has STATUS (and a last error
// matching ERROR-REGEXP).
func waitStatus(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: wait-status NAME STATUS [ERROR-REGEXP]")
	}
	var errRE *regexp.Regexp
	if len(args) == 3 {
		errRE = regexp.MustCompile(args[2])
	}
	ctx := context.Background()
	st, err := store.Open(ctx, ts.Getenv("KFTRAY_CONFIG"))
	ts.Check(err)
	defer st.Close()
	deadline := time.Now().Add(15 * time.Second)
	last := "no such config"
	for time.Now().Before(deadline) {
		fs, err := fwdaemon.StoredForwards(ctx, st)
		ts.Check(err)
		for _, f := range fs {
			if strings.EqualFold(f.Config.Alias, args[0]) {
				if f.Status == args[1] && (errRE == nil || errRE.MatchString(f.LastError)) {
					return
				}
				last = fmt.Sprintf("%s (%q)", f.Status, f.LastError)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	ts.Fatalf("%s did not become %s within 15s; it is %s", args[0], args[1], last)
}
