//go:build e2e && linux

package fault_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kftray-go/kftray/e2e/cluster"
	"github.com/kftray-go/kftray/forwarder"
)

// TestRollingUpdateWithClients rolls the Deployment behind a forward while
// clients make requests on new connections. It reports the success rate
// during the rollout (kubefwd's test keeps >= 70 %) and holds 100 % for
// connections started once the replacements are ready, allowing the
// engine's promise of 1 s to move to them (connections in that second
// are reported apart).
func TestRollingUpdateWithClients(t *testing.T) {
	c := cluster.Get(t)
	for _, tr := range transports {
		t.Run(string(tr), func(t *testing.T) {
			ns := c.Namespace(t)
			old := deploy(t, c, ns, 2)
			m := startForward(t, forwarder.Options{Transport: tr}, webConfig(c, ns, 1, 80))
			addr := m.Forward(1).State().Address

			type result struct {
				start time.Time
				err   error
			}
			var (
				mu      sync.Mutex
				results []result
				stop    = make(chan struct{})
				wg      sync.WaitGroup
			)
			for range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						select {
						case <-stop:
							return
						default:
						}
						ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
						start := time.Now()
						_, err := whoami(ctx, nil, addr)
						cancel()
						mu.Lock()
						results = append(results, result{start, err})
						mu.Unlock()
					}
				}()
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			time.Sleep(500 * time.Millisecond)
			patch := fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{"bench/restartedAt":%q}}}}}`, time.Now().Format(time.RFC3339Nano))
			if _, err := c.Client.AppsV1().Deployments(ns).Patch(ctx, "web", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
				t.Fatal(err)
			}
			if _, err := c.ReadyPods(ctx, ns, "web", 2, old...); err != nil {
				t.Fatal(err)
			}
			ready := time.Now()
			time.Sleep(3 * time.Second)
			close(stop)
			wg.Wait()

			var during, duringOK, settling, settlingOK, after, afterOK int
			var firstErr error
			for _, r := range results {
				if r.start.Before(ready) {
					during++
					if r.err == nil {
						duringOK++
					} else if firstErr == nil {
						firstErr = r.err
					}
					continue
				}
				if r.start.Before(ready.Add(time.Second)) {
					settling++
					if r.err == nil {
						settlingOK++
					} else {
						t.Logf("request started %v after the replacements were ready failed: %v", r.start.Sub(ready).Round(time.Millisecond), r.err)
					}
					continue
				}
				after++
				if r.err == nil {
					afterOK++
				} else {
					t.Errorf("request started %v after the replacements were ready failed: %v", r.start.Sub(ready).Round(time.Millisecond), r.err)
				}
			}
			rate := 100 * float64(duringOK) / float64(max(during, 1))
			t.Logf("%s: during the rollout %d/%d requests succeeded (%.1f%%; first error %v); in the first second after the replacements were ready %d/%d; after that %d/%d",
				tr, duringOK, during, rate, firstErr, settlingOK, settling, afterOK, after)
			if rate < 70 {
				t.Errorf("success rate during the rollout %.1f%%, below kubefwd's 70%%", rate)
			}
			if after == 0 {
				t.Error("no request started after the replacements were ready")
			}
		})
	}
}
