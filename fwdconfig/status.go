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

// Change is one entry of a merge plan: what a merge does (or, dry run,
// would do) to one config.
type Change struct {
	// Action is "add", "update", "unchanged" or "delete" (a flush removes
	// the configs the source no longer has).
	Action string `json:"action"`
	ID     int64  `json:"id,omitempty"` // the stored config's id (0 for an add in a dry run)
	Config Config `json:"config"`       // the config as it is after the merge (as it was, for a delete)
}

// Merge actions (Change.Action).
const (
	ChangeAdd       = "add"
	ChangeUpdate    = "update"
	ChangeUnchanged = "unchanged"
	ChangeDelete    = "delete"
)
