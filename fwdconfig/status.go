package fwdconfig

import "errors"

// Status is where a forward stands.
type Status string

const (
	StatusRunning  Status = "running"  // listening and forwarding
	StatusRetrying Status = "retrying" // lost its upstream, reconnecting with backoff
	StatusStopped  Status = "stopped"  // stopped on purpose
	StatusFailed   Status = "failed"   // gave up; LastError says why
)

// Valid reports whether st is one of the statuses above.
func (st Status) Valid() bool {
	switch st {
	case StatusRunning, StatusRetrying, StatusStopped, StatusFailed:
		return true
	}
	return false
}

// Sentinel errors about configs, for errors.Is. The store returns them
// (ErrConflict for a write with a stale Config.Revision); the local API
// answers ErrNotFound with 404.
var (
	ErrNotFound = errors.New("no such config")
	ErrConflict = errors.New("config was changed by someone else")
)

// ImportResult says what an import did, by config id.
type ImportResult struct {
	Added     []int64 `json:"added"`
	Updated   []int64 `json:"updated"`
	Unchanged []int64 `json:"unchanged"`
}
