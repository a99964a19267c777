// Package install puts the root helper on a machine and takes it off again:
// verify the signed binary (read once, so what is verified is what is
// written), write it root:root 0755 atomically, write the root config with
// the invoking user's uid, and install the systemd units or launchd plist.
// Everything is relative to Options.Root so tests can install into a temp
// directory.
package install

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kftray-go/kftray/helper/config"
	"github.com/kftray-go/kftray/helper/minisign"
	"github.com/kftray-go/kftray/internal/atomicfile"
	"github.com/kftray-go/kftray/packaging/launchd"
	"github.com/kftray-go/kftray/packaging/systemd"
)

// Installed layout, relative to Options.Root.
const (
	BinDir     = "/usr/local/libexec/kftray"
	BinPath    = BinDir + "/kftray-helper"
	UnitDir    = "/etc/systemd/system"
	PlistPath  = "/Library/LaunchDaemons/" + launchd.Label + ".plist"
	HelperName = "kftray-helper"
	maxBinary  = 512 << 20
)

// Init systems.
const (
	InitSystemd = "systemd"
	InitLaunchd = "launchd"
	InitNone    = "none"
)

// Options configure Install, Uninstall and GetStatus.
type Options struct {
	Root      string // "/" on a real machine
	Binary    string // the kftray-helper to install
	Signature string // its minisign signature; default Binary + ".minisig"
	// TrustedKeys verify the signature (built into kftray).
	TrustedKeys []minisign.PublicKey
	// Version the signature must name; empty accepts any (dev builds).
	Version               string
	GOOS, GOARCH          string // default: this machine
	InsecureSkipSignature bool
	AllowUID              uint32 // the invoking user's uid
	// AllowSuffixes are hosts name suffixes to allow besides .test
	// (--allow-suffix); added to those an existing config allows.
	AllowSuffixes []string
	// AllowSingleLabel allows dotless hosts names (--allow-single-label).
	// Install never turns an allowance off; edit the config for that.
	AllowSingleLabel bool
	Init             string // InitSystemd, InitLaunchd, InitNone; "" detects
	Out              io.Writer
	// Run executes service-manager commands. Nil runs them for real when
	// Root is "/" and only reports them otherwise.
	Run func(ctx context.Context, name string, args ...string) error
}

func (o *Options) path(p string) string { return filepath.Join(o.Root, p) }

func (o *Options) defaults() {
	if o.Root == "" {
		o.Root = "/"
	}
	if o.GOOS == "" {
		o.GOOS = runtime.GOOS
	}
	if o.GOARCH == "" {
		o.GOARCH = runtime.GOARCH
	}
	if o.Signature == "" {
		o.Signature = o.Binary + ".minisig"
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Init == "" {
		o.Init = DetectInit()
	}
}

// DetectInit reports the service manager of this machine.
func DetectInit() string {
	if runtime.GOOS == "darwin" {
		return InitLaunchd
	}
	// sd_booted(): systemd is PID 1 exactly when this directory exists.
	if st, err := os.Stat("/run/systemd/system"); err == nil && st.IsDir() {
		return InitSystemd
	}
	return InitNone
}

func (o *Options) run(ctx context.Context, name string, args ...string) error {
	if o.Run != nil {
		return o.Run(ctx, name, args...)
	}
	if o.Root != "/" {
		fmt.Fprintf(o.Out, "  (not run, --root given) %s %s\n", name, strings.Join(args, " "))
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// TrustedComment is what a helper's signature must say, field for field.
func TrustedComment(version, goos, goarch, sha256hex string) string {
	return fmt.Sprintf("name=%s version=%s os=%s arch=%s sha256=%s", HelperName, version, goos, goarch, sha256hex)
}

func parseComment(tc string) map[string]string {
	m := map[string]string{}
	for _, f := range strings.Fields(tc) {
		if k, v, ok := strings.Cut(f, "="); ok {
			m[k] = v
		}
	}
	return m
}

// Verify checks that data is a kftray-helper for this os/arch (and
// version, if set) signed by one of the trusted keys, and returns the
// version it claims.
func Verify(data, sigFile []byte, keys []minisign.PublicKey, version, goos, goarch string) (string, error) {
	sig, err := minisign.ParseSignature(sigFile)
	if err != nil {
		return "", err
	}
	if len(keys) == 0 {
		return "", errors.New("this kftray build has no helper signing key built in; use a release build, build with the -ldflags scripts/sign-helper prints, or pass --insecure-skip-signature for development")
	}
	var tc string
	var verr error
	for _, k := range keys {
		if tc, verr = minisign.Verify(k, data, sig); verr == nil {
			break
		}
	}
	if verr != nil {
		return "", fmt.Errorf("the helper binary's signature is not valid: %w; download the helper that matches this kftray release", verr)
	}
	f := parseComment(tc)
	sum := sha256.Sum256(data)
	want := map[string]string{"name": HelperName, "os": goos, "arch": goarch, "sha256": hex.EncodeToString(sum[:])}
	if version != "" {
		want["version"] = version
	}
	for _, k := range []string{"name", "version", "os", "arch", "sha256"} {
		w, check := want[k]
		if !check {
			continue
		}
		if f[k] != w {
			return "", fmt.Errorf("the signed helper is for %s=%q, this install needs %s=%q; use the kftray-helper built for this kftray and machine", k, f[k], k, w)
		}
	}
	if f["version"] == "" {
		return "", errors.New("the helper's signature names no version")
	}
	return f["version"], nil
}

// Install verifies and installs the helper and enables its service.
func Install(ctx context.Context, o Options) error {
	o.defaults()
	if o.Root == "/" && os.Geteuid() != 0 {
		return errors.New("installing the helper needs root: run `sudo kftray helper install`")
	}
	for _, sfx := range o.AllowSuffixes {
		if err := config.ValidateSuffix(sfx); err != nil {
			return fmt.Errorf("--allow-suffix: %w", err)
		}
	}
	data, err := readOnce(o.Binary)
	if err != nil {
		return err
	}
	version := "unverified"
	if o.InsecureSkipSignature {
		fmt.Fprintln(o.Out, "WARNING: --insecure-skip-signature: installing an UNVERIFIED binary that will run as ROOT.")
		fmt.Fprintln(o.Out, "WARNING: only do this with a helper you built yourself, for development.")
	} else {
		sig, err := os.ReadFile(o.Signature)
		if err != nil {
			return fmt.Errorf("read the helper's signature %s: %w; install refuses unsigned helpers: use a release's kftray-helper with its .minisig, sign a local build with scripts/build-helper, or pass --insecure-skip-signature for development", o.Signature, err)
		}
		if version, err = Verify(data, sig, o.TrustedKeys, o.Version, o.GOOS, o.GOARCH); err != nil {
			return err
		}
	}
	sum := sha256.Sum256(data)
	fmt.Fprintf(o.Out, "verified kftray-helper %s (%s/%s, sha256 %x)\n", version, o.GOOS, o.GOARCH, sum[:8])

	if err := mkdirSafe(o.path(BinDir)); err != nil {
		return err
	}
	if err := writeAtomic(o.path(BinPath), data, 0o755); err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "installed %s (root:root 0755)\n", BinPath)

	if err := o.writeConfig(); err != nil {
		return err
	}

	switch o.Init {
	case InitSystemd:
		dir := o.path(UnitDir)
		if err := mkdirSafe(dir); err != nil {
			return err
		}
		if err := writeAtomic(filepath.Join(dir, systemd.SocketUnit), systemd.Socket, 0o644); err != nil {
			return err
		}
		if err := writeAtomic(filepath.Join(dir, systemd.ServiceUnit), systemd.Service, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(o.Out, "installed %s/%s and %s\n", UnitDir, systemd.SocketUnit, systemd.ServiceUnit)
		for _, args := range [][]string{
			{"daemon-reload"},
			{"enable", "--now", systemd.SocketUnit},
			{"try-restart", systemd.ServiceUnit}, // a running old helper picks up the new binary
		} {
			if err := o.run(ctx, "/usr/bin/systemctl", args...); err != nil {
				return err
			}
		}
	case InitLaunchd:
		if err := mkdirSafe(filepath.Dir(o.path(PlistPath))); err != nil {
			return err
		}
		if err := writeAtomic(o.path(PlistPath), launchd.Plist, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(o.Out, "installed %s\n", PlistPath)
		_ = o.run(ctx, "/bin/launchctl", "bootout", "system/"+launchd.Label) // an older one, if loaded
		if err := o.run(ctx, "/bin/launchctl", "bootstrap", "system", PlistPath); err != nil {
			return err
		}
	default:
		fmt.Fprintln(o.Out, "systemd is not running here (a container?), so no service was installed.")
		fmt.Fprintf(o.Out, "Start the helper yourself, as root, and keep it running:\n  %s service\n", BinPath)
	}
	fmt.Fprintf(o.Out, "uid %d may now use the helper\n", o.AllowUID)
	return nil
}

func (o *Options) writeConfig() error {
	p := o.path(config.DefaultPath)
	if err := mkdirSafe(filepath.Dir(p)); err != nil {
		return err
	}
	cfg := &config.Config{}
	// Keep other users and local policy, but only from a config the service
	// itself would trust: rewriting a planted one root-owned would launder it.
	if old, err := config.Load(p, os.Geteuid() == 0); err == nil {
		cfg = old
	} else if !errors.Is(err, syscall.ENOENT) {
		fmt.Fprintf(o.Out, "replacing unreadable config %s: %v\n", config.DefaultPath, err)
	}
	if !slices.Contains(cfg.AllowedUIDs, o.AllowUID) {
		cfg.AllowedUIDs = append(cfg.AllowedUIDs, o.AllowUID)
	}
	for _, sfx := range o.AllowSuffixes {
		sfx = strings.ToLower(sfx)
		if sfx != config.DefaultSuffix && !slices.Contains(cfg.NameSuffixes, sfx) {
			cfg.NameSuffixes = append(cfg.NameSuffixes, sfx)
		}
	}
	if o.AllowSingleLabel {
		yes := true
		cfg.AllowSingleLabel = &yes
	}
	b, err := cfg.Marshal()
	if err != nil {
		return err
	}
	if err := writeAtomic(p, b, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "wrote %s (allowed_uids %v)\n", config.DefaultPath, cfg.AllowedUIDs)
	fmt.Fprintf(o.Out, "hosts names allowed: %s\n", namePolicy(cfg))
	return nil
}

// Uninstall stops the service, sweeps the hosts block and removes every
// file Install wrote.
func Uninstall(ctx context.Context, o Options) error {
	o.defaults()
	if o.Root == "/" && os.Geteuid() != 0 {
		return errors.New("removing the helper needs root: run `sudo kftray helper uninstall`")
	}
	var errs []error
	switch o.Init {
	case InitSystemd:
		// Stopping the service makes it end sessions and sweep the block.
		if err := o.run(ctx, "/usr/bin/systemctl", "disable", "--now", systemd.SocketUnit, systemd.ServiceUnit); err != nil {
			errs = append(errs, err)
		}
	case InitLaunchd:
		if err := o.run(ctx, "/bin/launchctl", "bootout", "system/"+launchd.Label); err != nil {
			fmt.Fprintf(o.Out, "launchctl bootout: %v (not loaded?)\n", err)
		}
	}
	// Sweep again with the installed binary, in case the service was not
	// running (or there is none): nothing of ours may stay in /etc/hosts.
	_, binErr := os.Stat(o.path(BinPath))
	_, hostsErr := os.Stat(o.path(config.DefaultHosts))
	if binErr == nil && hostsErr == nil {
		args := []string{"cleanup",
			"--config", o.path(config.DefaultPath),
			"--hosts", o.path(config.DefaultHosts),
			"--run-dir", o.path(config.DefaultRunDir)}
		if err := os.MkdirAll(o.path(config.DefaultRunDir), 0o755); err == nil {
			if out, err := exec.CommandContext(ctx, o.path(BinPath), args...).CombinedOutput(); err != nil {
				errs = append(errs, fmt.Errorf("sweep the hosts block: %w: %s", err, bytes.TrimSpace(out)))
			} else {
				fmt.Fprintf(o.Out, "removed kftray lines from %s\n", config.DefaultHosts)
			}
		}
	}
	for _, p := range []string{
		filepath.Join(UnitDir, systemd.SocketUnit),
		filepath.Join(UnitDir, systemd.ServiceUnit),
		PlistPath,
		BinPath,
		config.DefaultPath,
	} {
		if err := os.Remove(o.path(p)); err == nil {
			fmt.Fprintf(o.Out, "removed %s\n", p)
		} else if !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	for _, d := range []string{BinDir, filepath.Dir(config.DefaultPath)} {
		_ = os.Remove(o.path(d)) // only if empty
	}
	_ = os.RemoveAll(o.path(config.DefaultRunDir))
	if o.Init == InitSystemd {
		if err := o.run(ctx, "/usr/bin/systemctl", "daemon-reload"); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// readOnce reads the binary into memory; verification and the write both
// use these bytes, so swapping the file in between changes nothing.
func readOnce(path string) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open helper binary %s: %w", path, err)
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxBinary+1))
	if err != nil {
		return nil, fmt.Errorf("read helper binary %s: %w", path, err)
	}
	if len(data) > maxBinary {
		return nil, fmt.Errorf("helper binary %s is larger than %d MiB", path, maxBinary>>20)
	}
	return data, nil
}

// writeAtomic writes data root:root with mode (never setuid) via a temp
// file, fsync and rename, then fsyncs the directory.
func writeAtomic(path string, data []byte, mode os.FileMode) error {
	o := atomicfile.Options{Perm: mode &^ (os.ModeSetuid | os.ModeSetgid | os.ModeSticky)}
	if os.Geteuid() == 0 {
		o.Owner = &atomicfile.Owner{UID: 0, GID: 0}
	}
	if err := atomicfile.Write(path, data, o); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
