// Package config is the helper's root-owned configuration,
// /etc/kftray-helper/config.json, written at install. It is the only input
// besides the kernel's peer credentials that grants anything.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Default paths of an installed helper (the run directory is per platform,
// see paths_*.go).
const (
	DefaultPath    = "/etc/kftray-helper/config.json"
	DefaultSocket  = DefaultRunDir + "/helper.sock"
	DefaultHosts   = "/etc/hosts"
	DefaultPool    = "127.77.0.0/16"
	DefaultMaxHost = 256
)

// DefaultSuffix is the one name suffix the hosts block always accepts:
// reserved for testing (RFC 2606), so no real name on any network ends in
// it. Names such as gitlab, printer.local or metadata.google.internal can
// be real ones, which a user's line would redirect for every user of the
// machine; the admin opts in to those at install (--allow-suffix,
// --allow-single-label).
const DefaultSuffix = ".test"

// Config is the helper's policy.
type Config struct {
	// AllowedUIDs may open a helper session.
	AllowedUIDs []uint32 `json:"allowed_uids"`
	// AddressPool is the loopback prefix AllocateAddress hands out from.
	AddressPool string `json:"address_pool,omitempty"`
	// NameSuffixes a hosts name may end with besides DefaultSuffix
	// (`kftray helper install --allow-suffix`).
	NameSuffixes []string `json:"name_suffixes,omitempty"`
	// AllowSingleLabel permits names without a dot ("web"); off unless set
	// (`kftray helper install --allow-single-label`).
	AllowSingleLabel *bool `json:"allow_single_label,omitempty"`
	// MaxHostsPerUID caps the names one uid may hold in the block.
	MaxHostsPerUID int `json:"max_hosts_per_uid,omitempty"`
	// SharedLoopbackPorts are privileged ports a session may bind on
	// 127.0.0.1 and ::1, which other local software trusts. Allocated pool
	// addresses accept any port; ports >= 1024 are always allowed.
	SharedLoopbackPorts []uint16 `json:"shared_loopback_ports,omitempty"`
	// UDPLowPorts are the UDP ports below 1024 a session may bind (also
	// needing shared_loopback_ports on 127.0.0.1 and ::1). A UDP socket can
	// send datagrams from its port, so unlike TCP listeners these are opt
	// in; absent means DefaultUDPLowPorts, [] means none.
	UDPLowPorts *[]uint16 `json:"udp_low_ports,omitempty"`
}

// DefaultUDPLowPorts are the privileged UDP ports allowed when the config
// names none: DNS, kftray's UDP use case.
var DefaultUDPLowPorts = []uint16{53}

// UDPPorts returns the privileged UDP ports in force.
func (c *Config) UDPPorts() []uint16 {
	if c.UDPLowPorts == nil {
		return DefaultUDPLowPorts
	}
	return *c.UDPLowPorts
}

// Pool returns the parsed address pool.
func (c *Config) Pool() (netip.Prefix, error) {
	s := c.AddressPool
	if s == "" {
		s = DefaultPool
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("config: address_pool %q: %w", s, err)
	}
	p = p.Masked()
	if !p.Addr().IsLoopback() || !p.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("config: address_pool %s must be an IPv4 loopback prefix inside 127.0.0.0/8", p)
	}
	if p.Contains(netip.MustParseAddr("127.0.0.1")) {
		return netip.Prefix{}, fmt.Errorf("config: address_pool %s must not contain 127.0.0.1", p)
	}
	return p, nil
}

// Suffixes returns the name suffixes in force: DefaultSuffix and the
// configured ones, lowercase, each once.
func (c *Config) Suffixes() []string {
	out := []string{DefaultSuffix}
	for _, s := range c.NameSuffixes {
		if s = strings.ToLower(s); !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// SingleLabel reports whether dotless names are allowed (default false).
func (c *Config) SingleLabel() bool { return c.AllowSingleLabel != nil && *c.AllowSingleLabel }

var suffixLabel = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// ValidateSuffix checks a name suffix an admin allows: a dot, then one or
// more RFC 1123 labels; never localhost.
func ValidateSuffix(s string) error {
	rest, ok := strings.CutPrefix(strings.ToLower(s), ".")
	if !ok || rest == "" || len(rest) > 253 {
		return fmt.Errorf("config: name suffix %q must be a dot followed by a domain, like .test or .corp.example", s)
	}
	for _, l := range strings.Split(rest, ".") {
		if !suffixLabel.MatchString(l) {
			return fmt.Errorf("config: name suffix %q: label %q is not a valid host name label (letters, digits and inner '-')", s, l)
		}
	}
	if rest == "localhost" || strings.HasSuffix(rest, ".localhost") {
		return fmt.Errorf("config: name suffix %q: localhost names are never managed", s)
	}
	return nil
}

// MaxHosts returns the per-uid cap.
func (c *Config) MaxHosts() int {
	if c.MaxHostsPerUID <= 0 {
		return DefaultMaxHost
	}
	return c.MaxHostsPerUID
}

// Allowed reports whether uid may open a session.
func (c *Config) Allowed(uid uint32) bool { return slices.Contains(c.AllowedUIDs, uid) }

// Validate checks the config is usable.
func (c *Config) Validate() error {
	if _, err := c.Pool(); err != nil {
		return err
	}
	for _, p := range c.UDPPorts() {
		if p == 0 || p >= 1024 {
			return fmt.Errorf("config: udp_low_ports lists %d; list only ports 1-1023 (higher ports need no helper)", p)
		}
	}
	for _, s := range c.NameSuffixes {
		if err := ValidateSuffix(s); err != nil {
			return err
		}
	}
	return nil
}

// Load reads the config at path. When requireRoot is set (the service), the
// file and its directory must be owned by root and not writable by group or
// others, because whoever can write it decides who gets root's help.
func Load(path string, requireRoot bool) (*Config, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, syscall.ENOENT) {
			return nil, fmt.Errorf("config: %s does not exist; run `sudo kftray helper install`: %w", path, err)
		}
		return nil, fmt.Errorf("config: open %s: %w", path, err)
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	if requireRoot {
		if err := checkRootOwned(f, path); err != nil {
			return nil, err
		}
		if err := checkRootAncestors(filepath.Dir(path)); err != nil {
			return nil, err
		}
	}
	data, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("config: read %s: %w", path, err)
	}
	var c Config
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("config: parse %s: %w", path, err)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &c, nil
}

// checkRootAncestors walks from dir to / : a directory another user could
// write (and so swap the config's parent in) makes the config untrusted.
// Sticky root-owned directories such as /tmp are fine: nobody can rename
// root's entries there.
func checkRootAncestors(dir string) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	for {
		var st unix.Stat_t
		if err := unix.Lstat(dir, &st); err != nil {
			return fmt.Errorf("config: stat %s: %w", dir, err)
		}
		writable := st.Mode&0o022 != 0 && st.Mode&unix.S_ISVTX == 0
		if st.Mode&unix.S_IFMT != unix.S_IFDIR || st.Uid != 0 || writable {
			return fmt.Errorf("config: %s must be a real directory owned by root and not writable by others", dir)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return nil
		}
		dir = parent
	}
}

func checkRootOwned(f *os.File, path string) error {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return fmt.Errorf("config: stat %s: %w", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fmt.Errorf("config: %s is not a regular file", path)
	}
	if st.Uid != 0 || st.Mode&0o022 != 0 {
		return fmt.Errorf("config: %s must be owned by root and not group/world-writable (owner %d, mode %o); reinstall with `sudo kftray helper install`", path, st.Uid, st.Mode&0o777)
	}
	return nil
}

// Marshal renders c as the file install writes.
func (c *Config) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
