package daemon

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	"github.com/rs/zerolog"

	"github.com/kftray-go/kftray/fwdconfig"
	"github.com/kftray-go/kftray/internal/proc"
	"github.com/kftray-go/kftray/localapi"
	"github.com/kftray-go/kftray/store"
)

// owners decides whose a forward's state row is. Several processes share
// the store: the daemon and any number of `kftray run`. A row names the pid
// that runs the forward; it is that process's while the process runs, and
// stale once it is gone (killed with SIGKILL, it could not say so).
type owners struct {
	st  *store.Store
	pid int // this process
	// deadDaemon is the pid the previous daemon of this config directory
	// recorded. Holding the daemon lock proves that process gone, even if
	// its pid is taken by another process now (or it is a zombie).
	deadDaemon int
	log        zerolog.Logger
}

// alive reports whether the process pid, which owns a state row, still
// runs: this process does; the previous daemon does not (we hold its lock);
// any other must exist and not be a zombie (a killed daemon or `kftray run`
// whose parent has not reaped it yet).
func (o *owners) alive(pid int) bool {
	switch {
	case pid == o.pid:
		return true
	case pid <= 0 || pid == o.deadDaemon:
		return false
	}
	return proc.Alive(pid)
}

// clearStale removes the states of forwards whose owning process is gone,
// so nothing claims to run what nothing runs. States of live owners are
// left alone. Call it before this process starts anything.
func (o *owners) clearStale(ctx context.Context) (int, error) {
	states, err := o.st.GetStates(ctx)
	if err != nil {
		return 0, err
	}
	done := map[int]bool{}
	total := 0
	for _, st := range states {
		// Only states that claim something runs are stale; stopped and
		// failed ones stay true after their owner is gone.
		if st.PID == 0 || done[st.PID] || (st.Status != fwdconfig.StatusRunning && st.Status != fwdconfig.StatusRetrying) {
			continue
		}
		// Rows with our own pid are stale too: nothing has started yet,
		// so they are an earlier process's whose pid we were given.
		if st.PID != o.pid && o.alive(st.PID) {
			continue
		}
		done[st.PID] = true
		n, err := o.st.ClearStates(ctx, st.PID)
		if err != nil {
			return total, err
		}
		o.log.Info().Int("pid", st.PID).Int("states", n).Msg("cleared the states of a kftray process that is gone")
		total += n
	}
	return total, nil
}

// checkNotElsewhere fails when another live kftray process (the daemon,
// another `kftray run`) forwards one of cfgs, naming it and how to stop it.
func (o *owners) checkNotElsewhere(ctx context.Context, cfgs ...fwdconfig.Config) error {
	for _, cfg := range cfgs {
		st, err := o.st.GetState(ctx, cfg.ID)
		if errors.Is(err, fwdconfig.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if st.Status != fwdconfig.StatusStopped && st.Status != fwdconfig.StatusFailed && st.PID != o.pid && o.alive(st.PID) {
			if localapi.PathsIn(filepath.Dir(o.st.Path())).ReadPID() == st.PID {
				return fmt.Errorf("%s is already forwarded by the kftray daemon (pid %d, %s); stop it there first with 'kftray stop %s'",
					cfg.Name(), st.PID, st.Status, ref(cfg))
			}
			return fmt.Errorf("%s is already forwarded by kftray process %d (%s), probably 'kftray run'; stop that first (Ctrl-C)",
				cfg.Name(), st.PID, st.Status)
		}
	}
	return nil
}

// settle makes a stopped forward's stored state say so: a forward that
// failed here, or whose owner died, is marked stopped (and claimed by this
// process, which has stopped it). One that another live process runs
// (`kftray run`) is reported, not touched. taken is called before the row
// is rewritten.
func (o *owners) settle(ctx context.Context, id int64, taken func()) error {
	st, err := o.st.GetState(ctx, id)
	if errors.Is(err, fwdconfig.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if st.Status == fwdconfig.StatusStopped {
		return nil
	}
	if st.PID != o.pid && o.alive(st.PID) {
		return fmt.Errorf("config %d is forwarded by another kftray process (pid %d, probably 'kftray run'); stop it there (Ctrl-C)", id, st.PID)
	}
	st.Status, st.PID, st.Attempt, st.NextRetry, st.Pod, st.ActiveConns = fwdconfig.StatusStopped, o.pid, 0, time.Time{}, "", 0
	taken()
	return o.st.PutState(ctx, &st)
}

// ref is how a user names cfg on the command line.
func ref(cfg fwdconfig.Config) string {
	if cfg.Alias != "" {
		return cfg.Alias
	}
	return strconv.FormatInt(cfg.ID, 10)
}
