// Package addrpool hands out loopback addresses from the configured pool to
// helper sessions. Allocations live in a root-owned state file under the run
// directory, shared by every plugin process under an flock, so two sessions
// never get the same address; a session's addresses are freed when it ends.
//
// Freed is not free: the forwarder keeps the sockets the helper passed it
// after its session ends (and anyone may bind a high port on any loopback
// address), so an address is handed out only while the kernel's socket
// table shows no socket bound to it. Otherwise whoever still holds a socket
// there would receive the traffic of the next session's hostnames.
package addrpool

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/kftray-go/kftray/helper/internal/flock"
	"github.com/kftray-go/kftray/internal/atomicfile"
)

// MaxPerUID bounds the addresses one user may hold.
const MaxPerUID = 1024

// ErrExhausted means the pool or the user's share is used up.
var ErrExhausted = errors.New("address pool exhausted")

// ErrNotOwned means the address is not allocated to the session.
var ErrNotOwned = errors.New("address not allocated to this session")

// Pool is the shared allocator.
type Pool struct {
	Prefix netip.Prefix
	Dir    string // holds pool.json and pool.lock; root-owned
	// Bound lists the addresses local sockets are bound to; nil reads the
	// kernel's socket table (BoundAddrs). Tests replace it.
	Bound func() (map[netip.Addr]bool, error)
}

type owner struct {
	UID     uint32 `json:"uid"`
	Session string `json:"session"`
}

// Allocate returns a free address for the session.
func (p *Pool) Allocate(uid uint32, session string) (netip.Addr, error) {
	var got netip.Addr
	err := p.update(func(st map[netip.Addr]owner) error {
		n := 0
		for _, o := range st {
			if o.UID == uid {
				n++
			}
		}
		if n >= MaxPerUID {
			return fmt.Errorf("%w: uid %d already holds %d addresses", ErrExhausted, uid, n)
		}
		bound := p.Bound
		if bound == nil {
			bound = BoundAddrs
		}
		held, err := bound()
		if err != nil {
			return fmt.Errorf("addrpool: list bound sockets: %w", err)
		}
		// Skip the prefix's own (network) address; never hand out 127.0.0.1.
		for a := p.Prefix.Addr().Next(); p.Prefix.Contains(a); a = a.Next() {
			if _, used := st[a]; used || held[a] || a == netip.MustParseAddr("127.0.0.1") {
				continue
			}
			if !p.Prefix.Contains(a.Next()) && p.Prefix.Bits() < 31 {
				break // last address of the prefix, by convention unused
			}
			st[a] = owner{UID: uid, Session: session}
			got = a
			return nil
		}
		return fmt.Errorf("%w: every address of %s is allocated or has a socket bound to it", ErrExhausted, p.Prefix)
	})
	return got, err
}

// Release frees ip if the session holds it.
func (p *Pool) Release(session string, ip netip.Addr) error {
	return p.update(func(st map[netip.Addr]owner) error {
		if o, ok := st[ip]; !ok || o.Session != session {
			return fmt.Errorf("%w: %s", ErrNotOwned, ip)
		}
		delete(st, ip)
		return nil
	})
}

// Owns reports whether the session holds ip.
func (p *Pool) Owns(session string, ip netip.Addr) (bool, error) {
	ok := false
	err := p.update(func(st map[netip.Addr]owner) error {
		o, found := st[ip]
		ok = found && o.Session == session
		return nil
	})
	return ok, err
}

// SessionAddresses lists what the session holds.
func (p *Pool) SessionAddresses(session string) ([]netip.Addr, error) {
	var out []netip.Addr
	err := p.update(func(st map[netip.Addr]owner) error {
		for a, o := range st {
			if o.Session == session {
				out = append(out, a)
			}
		}
		return nil
	})
	return out, err
}

// ReleaseSession frees everything the session holds.
func (p *Pool) ReleaseSession(session string) error {
	return p.update(func(st map[netip.Addr]owner) error {
		for a, o := range st {
			if o.Session == session {
				delete(st, a)
			}
		}
		return nil
	})
}

// Reset frees every address (service start and stop: no session is alive).
func (p *Pool) Reset() error {
	return p.update(func(st map[netip.Addr]owner) error { clear(st); return nil })
}

func (p *Pool) update(fn func(map[netip.Addr]owner) error) error {
	unlock, err := flock.Lock(filepath.Join(p.Dir, "pool.lock"))
	if err != nil {
		return fmt.Errorf("addrpool: %w", err)
	}
	defer unlock()
	path := filepath.Join(p.Dir, "pool.json")
	st := map[netip.Addr]owner{}
	data, err := readNoFollow(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("addrpool: read %s: %w", path, err)
	}
	if len(data) > 0 {
		if err := json.Unmarshal(data, &st); err != nil {
			return fmt.Errorf("addrpool: parse %s: %w", path, err)
		}
	}
	before := string(data)
	if err := fn(st); err != nil {
		return err
	}
	out, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if string(out) == before {
		return nil
	}
	// A fresh O_EXCL temp name, so no symlink planted beside pool.json is
	// followed; fsynced, so a crash never leaves the pool half-written.
	if err := atomicfile.WriteFile(path, out, 0o600); err != nil {
		return fmt.Errorf("addrpool: write state: %w", err)
	}
	return nil
}

func readNoFollow(path string) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, syscall.ENOENT) {
			return nil, os.ErrNotExist
		}
		return nil, err
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	return io.ReadAll(f)
}
