package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// helperService is a `kftray-helper service` run by the bench (as root) on
// a temp socket, with a temp hosts file and its own address pool, as the
// privileged tests run it.
type helperService struct {
	dir    string
	socket string
	cmd    *exec.Cmd
	exited chan struct{}
}

// startHelper builds (unless bin is given) and starts the helper service.
func startHelper(ctx context.Context, bin string) (*helperService, error) {
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("the privileged path needs root (the helper service runs as root)")
	}
	dir, err := os.MkdirTemp("", "bench-helper-")
	if err != nil {
		return nil, err
	}
	h := &helperService{dir: dir, socket: filepath.Join(dir, "run", "helper.sock"), exited: make(chan struct{})}
	fail := func(err error) (*helperService, error) {
		h.stop()
		return nil, err
	}
	// The helper refuses a config that others could write: every directory
	// on the way is root-owned and not group/world writable.
	for _, d := range []string{dir, filepath.Join(dir, "etc"), filepath.Join(dir, "run")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fail(err)
		}
		if err := os.Chmod(d, 0o755); err != nil {
			return fail(err)
		}
	}
	if bin == "" {
		bin = filepath.Join(dir, "kftray-helper")
		root, err := moduleRoot()
		if err != nil {
			return fail(err)
		}
		build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/kftray-helper")
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			return fail(fmt.Errorf("build kftray-helper: %w\n%s", err, out))
		}
	}
	cfg, _ := json.Marshal(map[string]any{"allowed_uids": []int{os.Getuid()}, "address_pool": "127.78.0.0/24"})
	cfgPath := filepath.Join(dir, "etc", "config.json")
	if err := os.WriteFile(cfgPath, cfg, 0o644); err != nil {
		return fail(err)
	}
	hostsPath := filepath.Join(dir, "etc", "hosts")
	if err := os.WriteFile(hostsPath, []byte("127.0.0.1 localhost\n"), 0o644); err != nil {
		return fail(err)
	}
	logf, err := os.Create(filepath.Join(dir, "helper.log"))
	if err != nil {
		return fail(err)
	}
	h.cmd = exec.Command(bin, "service", "--socket", h.socket, "--config", cfgPath,
		"--hosts", hostsPath, "--run-dir", filepath.Join(dir, "run"))
	h.cmd.Stdout, h.cmd.Stderr = logf, logf
	h.cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	dieWithParent(h.cmd)
	if err := h.cmd.Start(); err != nil {
		return fail(fmt.Errorf("start kftray-helper service: %w", err))
	}
	go func() { _ = h.cmd.Wait(); logf.Close(); close(h.exited) }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := os.Stat(h.socket); err == nil {
			return h, nil
		}
		select {
		case <-h.exited:
			log, _ := os.ReadFile(filepath.Join(dir, "helper.log"))
			return fail(fmt.Errorf("kftray-helper service exited: %s", strings.TrimSpace(string(log))))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fail(fmt.Errorf("kftray-helper service: no socket at %s after 15s", h.socket))
		}
	}
}

func (h *helperService) stop() {
	if h.cmd != nil && h.cmd.Process != nil {
		_ = h.cmd.Process.Signal(os.Interrupt)
		select {
		case <-h.exited:
		case <-time.After(10 * time.Second):
			_ = h.cmd.Process.Kill()
			<-h.exited
		}
	}
	os.RemoveAll(h.dir)
}

// moduleRoot is the directory of the product's go.mod.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("run the bench from inside the kftray module (or pass -helper-bin)")
	}
	return filepath.Dir(mod), nil
}
