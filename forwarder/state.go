package forwarder

import "time"

// Phase is where a forward is in its life.
type Phase string

const (
	Starting Phase = "starting"
	Running  Phase = "running"  // listening, connected to a ready pod
	Retrying Phase = "retrying" // listening, waiting to (re)connect; see Attempt, LastError, NextTry
	Failed   Phase = "failed"   // stopped by an error the user must fix (LastError)
	Stopped  Phase = "stopped"
)

// State is a snapshot of one forward, for the store and every interface.
type State struct {
	ID    int64     `json:"id"`
	Alias string    `json:"alias,omitempty"`
	Phase Phase     `json:"phase"`
	Since time.Time `json:"since"` // when Phase was entered

	Address   string `json:"address,omitempty"`   // bound local host:port
	Pod       string `json:"pod,omitempty"`       // current pod
	PodPort   int    `json:"pod_port,omitempty"`  // container port on that pod
	Transport string `json:"transport,omitempty"` // websocket or spdy
	Note      string `json:"note,omitempty"`      // how the target was resolved, when notable

	Attempt   int       `json:"attempt,omitempty"`    // failed attempts since the last success
	LastError string    `json:"last_error,omitempty"` // why Retrying or Failed
	NextTry   time.Time `json:"next_try,omitempty"`

	ActiveConns  int64 `json:"active_conns"`
	TotalConns   int64 `json:"total_conns"`
	BytesToPod   int64 `json:"bytes_to_pod"`
	BytesFromPod int64 `json:"bytes_from_pod"`
	Reconnects   int64 `json:"reconnects"` // upgraded connections made after the first
}

// Observer is told about every change of phase, pod, address or error
// (not about every byte: read counters with Forward.State or
// Manager.States, for example once a second). It is called from the
// forwards' own goroutines, concurrently, and must not block.
type Observer interface {
	ForwardState(State)
}

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(State)

// ForwardState calls f.
func (f ObserverFunc) ForwardState(s State) { f(s) }
