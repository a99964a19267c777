package forwarder

import (
	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/store"
)

// StoreState converts s to the store's runtime-state row for the daemon
// with process id pid. BytesIn is what came from the pod (to local
// clients), BytesOut what went to it. A forward still starting is recorded
// as retrying with attempt 0: it is not forwarding yet.
func (s State) StoreState(pid int) store.State {
	st := store.State{
		ConfigID: s.ID, PID: pid, Attempt: s.Attempt, LastError: s.LastError, NextRetry: s.NextTry,
		LocalAddr: s.Address, Pod: s.Pod, ActiveConns: s.ActiveConns, TotalConns: s.TotalConns,
		BytesIn: s.BytesFromPod, BytesOut: s.BytesToPod, Reconnects: s.Reconnects,
	}
	switch s.Phase {
	case Running:
		st.Status = fwdconfig.StatusRunning
	case Retrying, Starting:
		st.Status = fwdconfig.StatusRetrying
	case Failed:
		st.Status = fwdconfig.StatusFailed
	default:
		st.Status = fwdconfig.StatusStopped
	}
	return st
}
