package relay

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/kftray-go/kftray/packaging/kftray-server/manifest"
)

// A relay's owner session says which process made it, so that a later
// process can prove that owner gone before it deletes the relay:
//
//	d<dir key>-<random>   a daemon of the config directory with that key
//	                      (DirKey); the daemon that holds that directory's
//	                      lock knows any other such session is dead
//	r<pid>-<random>       a `kftray run` process; dead once its pid is
//
// Other sessions (older kftray versions, tests) prove nothing: they are
// listed, and deleted only when the user asks (`kftray relay clean`).

// DirKey is a short, stable key of a config directory for a label.
func DirKey(dir string) string {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	sum := sha256.Sum256([]byte(dir))
	return hex.EncodeToString(sum[:4])
}

// DaemonSession returns a new session for a daemon of the config directory
// whose key is dirKey.
func DaemonSession(dirKey string) string { return "d" + dirKey + "-" + randomHex(4) }

// RunSession returns a new session for the `kftray run` process pid.
func RunSession(pid int) string { return "r" + strconv.Itoa(pid) + "-" + randomHex(3) }

// SessionOwner is who a session belongs to, as far as it says.
type SessionOwner struct {
	Daemon bool   // a daemon of a config directory...
	DirKey string // ...whose key (DirKey) is this
	PID    int    // else the pid of a `kftray run` process
}

// ParseSession reads a session made by DaemonSession or RunSession.
func ParseSession(s string) (SessionOwner, bool) {
	head, _, ok := strings.Cut(s, "-")
	if !ok || len(head) < 2 {
		return SessionOwner{}, false
	}
	switch head[0] {
	case 'd':
		if _, err := hex.DecodeString(head[1:]); err != nil || len(head) != 9 {
			return SessionOwner{}, false
		}
		return SessionOwner{Daemon: true, DirKey: head[1:]}, true
	case 'r':
		pid, err := strconv.Atoi(head[1:])
		if err != nil || pid <= 0 {
			return SessionOwner{}, false
		}
		return SessionOwner{PID: pid}, true
	}
	return SessionOwner{}, false
}

// DeadSession says whether r is o's user's and host's relay from another
// session whose owner is provably gone: a daemon of the config directory
// dirKey other than the one now holding its lock (o's session), or a
// `kftray run` whose process is not alive. alive reports whether a pid
// runs.
func (o Owner) DeadSession(r Info, dirKey string, alive func(pid int) bool) bool {
	if r.OwnerUser != o.User || r.OwnerHost != o.Host || r.OwnerSession == "" || r.OwnerSession == o.labelSession() {
		return false
	}
	so, ok := ParseSession(r.OwnerSession)
	switch {
	case !ok:
		return false
	case so.Daemon:
		return dirKey != "" && so.DirKey == dirKey
	default:
		return !alive(so.PID)
	}
}

func (o Owner) labelSession() string {
	// Sessions are compared as label values, which is how they are stored.
	return manifest.LabelValue(o.Session)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// StatusFor is what r is to o, whose session is the live one of its
// config directory (dirKey; "" when no daemon of it runs): Classify, and
// then, for a relay of this user and host that no live forward uses, its
// session: provably dead is an orphan; a live `kftray run`'s or o's own is
// in use (it may be starting); another config directory's daemon's is
// another session, which this directory cannot speak for. Sessions of
// older kftray versions prove nothing and stay orphans, for `kftray relay
// clean` to delete when the user asks.
func (o Owner) StatusFor(r Info, dirKey string, inUse func(Info) bool, alive func(pid int) bool) Status {
	st := o.Classify(r, inUse)
	if st != Orphan {
		return st
	}
	so, ok := ParseSession(r.OwnerSession)
	if !ok || o.DeadSession(r, dirKey, alive) {
		return Orphan
	}
	if so.Daemon && r.OwnerSession != o.labelSession() {
		return OtherSession
	}
	return InUse
}
