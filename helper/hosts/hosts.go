// Package hosts edits kftray's managed block of the system hosts file.
//
// The file is global, so the rules are strict: only the lines between the
// BEGIN and END markers are ever parsed (with txeh) or rendered; every byte
// outside stays as it was. Every input is validated here before txeh sees it,
// writers in different processes serialize on a flock, and the file is
// replaced atomically, or rewritten in place under a journal when rename is
// impossible (a bind-mounted file, a read-only /etc); the next holder of the
// lock undoes a rewrite a kill cut short.
package hosts

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/txn2/txeh"
)

// Markers delimiting the managed block.
const (
	BeginMarker = "# BEGIN kftray managed block"
	EndMarker   = "# END kftray managed block"
)

// commentPrefix starts every managed line's lease comment:
// "kftray:u<uid>-<session>-<lease>".
const commentPrefix = "kftray:u"

// Errors callers can test for.
var (
	ErrInvalid  = errors.New("invalid hosts entry")
	ErrConflict = errors.New("hosts name conflict")
	ErrCap      = errors.New("too many hosts names")
	ErrDamaged  = errors.New("damaged hosts file")
	ErrTooLarge = errors.New("hosts file too large")
	ErrEnding   = errors.New("hosts: this helper session is ending")
)

// Policy is the name policy from the root config.
type Policy struct {
	Suffixes    []string // a name must end with one of these ...
	SingleLabel bool     // ... or have no dot, if allowed
	MaxPerUID   int      // names one uid may hold in the block
	// MachineNames returns this machine's host names (full and short),
	// which are refused whatever the rest of the policy says. Nil: none.
	MachineNames func() []string
}

// Entry maps names to one address.
type Entry struct {
	IP    netip.Addr
	Names []string
}

// Line is one managed line.
type Line struct {
	Entry
	UID     uint32
	Session string
	Lease   string
}

var (
	sessionRe = regexp.MustCompile(`^[a-z0-9]{1,32}$`)
	leaseRe   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	labelRe   = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
)

// ValidateLease checks a client-chosen lease label.
func ValidateLease(lease string) error {
	if !leaseRe.MatchString(lease) {
		return fmt.Errorf("%w: lease %q must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit", ErrInvalid, lease)
	}
	return nil
}

// ValidateSession checks a launcher-made session id.
func ValidateSession(s string) error {
	if !sessionRe.MatchString(s) {
		return fmt.Errorf("%w: session id %q must be 1-32 lowercase letters or digits", ErrInvalid, s)
	}
	return nil
}

// NormalizeName lowercases name and checks it against RFC 1123 and the
// policy. It never accepts localhost, whitespace, '#' or control characters.
func (p Policy) NormalizeName(name string) (string, error) {
	for _, r := range name {
		if r <= ' ' || r == 0x7f || r == '#' || r > 0x7e {
			return "", fmt.Errorf("%w: name %q contains a space, '#', control or non-ASCII character", ErrInvalid, name)
		}
	}
	n := strings.ToLower(strings.TrimSuffix(name, "."))
	if n == "" || len(n) > 253 {
		return "", fmt.Errorf("%w: name %q must be 1-253 characters", ErrInvalid, name)
	}
	for _, l := range strings.Split(n, ".") {
		if !labelRe.MatchString(l) {
			return "", fmt.Errorf("%w: name %q is not a valid RFC 1123 host name (label %q)", ErrInvalid, name, l)
		}
	}
	if n == "localhost" || strings.HasSuffix(n, ".localhost") || n == "localhost.localdomain" {
		return "", fmt.Errorf("%w: name %q: localhost names are never managed", ErrInvalid, name)
	}
	if p.MachineNames != nil && slices.Contains(p.MachineNames(), n) {
		return "", fmt.Errorf("%w: name %q is this machine's own host name, which the helper never redirects; pick another name", ErrInvalid, name)
	}
	if !strings.Contains(n, ".") {
		if p.SingleLabel {
			return n, nil
		}
		return "", fmt.Errorf("%w: name %q: single-label names are off in the helper's policy (they can shadow names like gitlab or printer for every user); use a name ending in %s, or have an admin run `sudo kftray helper install --allow-single-label`", ErrInvalid, name, strings.Join(p.Suffixes, " or "))
	}
	for _, s := range p.Suffixes {
		if strings.HasSuffix(n, s) && len(n) > len(s) {
			return n, nil
		}
	}
	return "", fmt.Errorf("%w: name %q must end with %s (the helper's allowed suffixes); an admin can allow more with `sudo kftray helper install --allow-suffix .example`", ErrInvalid, name, strings.Join(p.Suffixes, " or "))
}

// MachineNames is this machine's host name as the kernel and /etc/hostname
// have it, each in full and in its short form, lowercase.
func MachineNames() []string {
	var raw []string
	if h, err := os.Hostname(); err == nil {
		raw = append(raw, h)
	}
	// The kernel's name can be stale in the service's own UTS namespace
	// (systemd's ProtectHostname); the static name is the configured one.
	if b, err := os.ReadFile("/etc/hostname"); err == nil && len(b) <= 1024 {
		if line, _, _ := strings.Cut(string(b), "\n"); strings.TrimSpace(line) != "" {
			raw = append(raw, strings.TrimSpace(line))
		}
	}
	var names []string
	for _, h := range raw {
		h = strings.ToLower(strings.TrimSuffix(h, "."))
		if h == "" {
			continue
		}
		short, _, _ := strings.Cut(h, ".")
		for _, n := range []string{h, short} {
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	return names
}

// validateIP allows loopback addresses only.
func validateIP(ip netip.Addr) (netip.Addr, error) {
	ip = ip.Unmap()
	if !ip.IsValid() || !ip.IsLoopback() || ip.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%w: address %s is not a loopback address", ErrInvalid, ip)
	}
	return ip, nil
}

func leaseComment(uid uint32, session, lease string) string {
	return commentPrefix + strconv.FormatUint(uint64(uid), 10) + "-" + session + "-" + lease
}

// parseComment reverses leaseComment; ok is false for lines that are not ours.
func parseComment(c string) (uid uint32, session, lease string, ok bool) {
	rest, found := strings.CutPrefix(c, commentPrefix)
	if !found {
		return 0, "", "", false
	}
	u, rest, found := strings.Cut(rest, "-")
	if !found {
		return 0, "", "", false
	}
	n, err := strconv.ParseUint(u, 10, 32)
	if err != nil {
		return 0, "", "", false
	}
	session, lease, found = strings.Cut(rest, "-")
	if !found || ValidateSession(session) != nil || ValidateLease(lease) != nil {
		return 0, "", "", false
	}
	return uint32(n), session, lease, true
}

// document is a hosts file split around the managed block.
type document struct {
	prefix, suffix []byte
	hadBlock       bool
	lines          []Line
}

// split finds the managed block. It refuses a file whose markers are
// unbalanced: guessing there could delete the user's own lines.
func split(data []byte) (*document, error) {
	d := &document{}
	begin, end := -1, -1
	blockStart, blockEnd := 0, 0
	lineNo := 0
	for off := 0; off < len(data); {
		nl := bytes.IndexByte(data[off:], '\n')
		next := len(data)
		if nl >= 0 {
			next = off + nl + 1
		}
		lineNo++
		line := strings.TrimRight(string(data[off:next]), "\r\n")
		switch line {
		case BeginMarker:
			if begin >= 0 {
				return nil, fmt.Errorf("%w: second %q at line %d; remove the duplicate block by hand", ErrDamaged, BeginMarker, lineNo)
			}
			begin, blockStart = lineNo, off
		case EndMarker:
			if begin < 0 || end >= 0 {
				return nil, fmt.Errorf("%w: %q at line %d without a matching BEGIN; fix the block by hand", ErrDamaged, EndMarker, lineNo)
			}
			end, blockEnd = lineNo, next
		}
		off = next
	}
	if begin >= 0 && end < 0 {
		return nil, fmt.Errorf("%w: %q at line %d has no END marker; fix the block by hand", ErrDamaged, BeginMarker, begin)
	}
	if begin < 0 {
		d.prefix = data
		return d, nil
	}
	d.hadBlock = true
	d.prefix = data[:blockStart]
	d.suffix = data[blockEnd:]
	inner := data[blockStart:blockEnd]
	inner = inner[bytes.IndexByte(inner, '\n')+1:] // drop BEGIN line
	if i := strings.LastIndex(string(inner), EndMarker); i >= 0 {
		inner = inner[:i]
	}
	hfl, err := txeh.ParseHostsFromString(string(inner))
	if err != nil {
		return nil, fmt.Errorf("%w: parse managed block: %v", ErrDamaged, err)
	}
	for _, l := range hfl {
		if l.LineType != txeh.ADDRESS {
			continue
		}
		uid, session, lease, ok := parseComment(l.Comment)
		if !ok {
			continue // not ours (hand-edited): dropped on the next write
		}
		ip, err := netip.ParseAddr(l.Address)
		if err != nil {
			continue
		}
		d.lines = append(d.lines, Line{Entry: Entry{IP: ip, Names: l.Hostnames}, UID: uid, Session: session, Lease: lease})
	}
	return d, nil
}

// render rebuilds the file: prefix and suffix untouched, the block rendered
// by txeh. An empty block is removed entirely.
func (d *document) render() ([]byte, error) {
	var block string
	if len(d.lines) > 0 {
		empty := ""
		h, err := txeh.NewHosts(&txeh.HostsConfig{RawText: &empty, MaxHostsPerLine: -1})
		if err != nil {
			return nil, fmt.Errorf("hosts: txeh: %w", err)
		}
		for _, l := range d.lines {
			h.AddHostsWithComment(l.IP.String(), l.Names, leaseComment(l.UID, l.Session, l.Lease))
		}
		block = BeginMarker + "\n" + h.RenderHostsFile() + EndMarker + "\n"
	}
	out := make([]byte, 0, len(d.prefix)+len(block)+len(d.suffix)+1)
	out = append(out, d.prefix...)
	if block != "" && !d.hadBlock && len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\n')
	}
	out = append(out, block...)
	out = append(out, d.suffix...)
	return out, nil
}

// outsideNames returns the names the user's own lines define.
func (d *document) outsideNames() map[string]bool {
	names := map[string]bool{}
	for _, part := range [][]byte{d.prefix, d.suffix} {
		for _, line := range strings.Split(string(part), "\n") {
			line, _, _ = strings.Cut(line, "#")
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			for _, n := range f[1:] {
				names[strings.ToLower(strings.TrimSuffix(n, "."))] = true
			}
		}
	}
	return names
}

// set replaces the lines of (uid, session, lease) with entries, after
// validating all of them.
func (d *document) set(p Policy, uid uint32, session, lease string, entries []Entry) error {
	if err := ValidateSession(session); err != nil {
		return err
	}
	if err := ValidateLease(lease); err != nil {
		return err
	}
	outside := d.outsideNames()
	if p.MachineNames != nil { // read once per request, not once per name
		machine := p.MachineNames()
		p.MachineNames = func() []string { return machine }
	}
	type key struct {
		name string
		v4   bool
	}
	// A name belongs to one lease across both address families: another
	// user adding an IPv6 line for it would take it over for many resolvers.
	owners := map[string]Line{}
	var kept []Line
	for _, l := range d.lines {
		if l.UID == uid && l.Session == session && l.Lease == lease {
			continue
		}
		kept = append(kept, l)
		for _, n := range l.Names {
			owners[n] = l
		}
	}
	var add []Line
	seen := map[key]bool{}
	count := 0
	for _, e := range entries {
		ip, err := validateIP(e.IP)
		if err != nil {
			return err
		}
		if len(e.Names) == 0 {
			return fmt.Errorf("%w: entry for %s has no names", ErrInvalid, ip)
		}
		var names []string
		for _, raw := range e.Names {
			n, err := p.NormalizeName(raw)
			if err != nil {
				return err
			}
			k := key{n, ip.Is4()}
			if seen[k] {
				return fmt.Errorf("%w: name %q appears twice for one address family", ErrInvalid, n)
			}
			seen[k] = true
			if outside[n] {
				return fmt.Errorf("%w: name %q is already defined by a line outside the kftray block; pick another name or remove that line", ErrConflict, n)
			}
			if o, taken := owners[n]; taken {
				return fmt.Errorf("%w: name %q is already managed by uid %d (lease %s)", ErrConflict, n, o.UID, o.Lease)
			}
			names = append(names, n)
		}
		count += len(names)
		add = append(add, Line{Entry: Entry{IP: ip, Names: names}, UID: uid, Session: session, Lease: lease})
	}
	for _, l := range kept {
		if l.UID == uid {
			count += len(l.Names)
		}
	}
	if p.MaxPerUID > 0 && count > p.MaxPerUID {
		return fmt.Errorf("%w: uid %d would hold %d names, the helper allows %d (max_hosts_per_uid)", ErrCap, uid, count, p.MaxPerUID)
	}
	d.lines = append(kept, add...)
	return nil
}

// filter keeps the lines keep approves.
func (d *document) filter(keep func(Line) bool) {
	var out []Line
	for _, l := range d.lines {
		if keep(l) {
			out = append(out, l)
		}
	}
	d.lines = out
}
