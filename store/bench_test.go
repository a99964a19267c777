package store

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/kftray-go/kftray/fwdconfig"
)

func benchStore(b *testing.B, n int) (*Store, []int64) {
	b.Helper()
	s, err := Open(context.Background(), b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	ids := make([]int64, n)
	for i := range n {
		c := svc(fmt.Sprintf("c%d", i), fmt.Sprintf("s%d", i), 80)
		if err := s.AddConfig(context.Background(), c); err != nil {
			b.Fatal(err)
		}
		ids[i] = c.ID
	}
	return s, ids
}

// The daemon writes a forward's state on every change of status and
// periodically for counters.
func BenchmarkPutState(b *testing.B) {
	s, ids := benchStore(b, 100)
	ctx := context.Background()
	st := State{Status: fwdconfig.StatusRunning, PID: os.Getpid()}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		st.ConfigID = ids[i%len(ids)]
		st.BytesIn = int64(i)
		if err := s.PutState(ctx, &st); err != nil {
			b.Fatal(err)
		}
	}
}

// What `kftray status` and the UIs read.
func BenchmarkGetStates100(b *testing.B) {
	s, ids := benchStore(b, 100)
	ctx := context.Background()
	for _, id := range ids {
		if err := s.PutState(ctx, &State{ConfigID: id, Status: fwdconfig.StatusRunning}); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		if st, err := s.GetStates(ctx); err != nil || len(st) != 100 {
			b.Fatal(len(st), err)
		}
	}
}

func BenchmarkListConfigs100(b *testing.B) {
	s, _ := benchStore(b, 100)
	ctx := context.Background()
	for b.Loop() {
		if cs, err := s.ListConfigs(ctx); err != nil || len(cs) != 100 {
			b.Fatal(len(cs), err)
		}
	}
}

func BenchmarkModifyConfig(b *testing.B) {
	s, ids := benchStore(b, 1)
	ctx := context.Background()
	for b.Loop() {
		if _, err := s.ModifyConfig(ctx, ids[0], func(c *fwdconfig.Config) error { c.LocalPort = (c.LocalPort + 1) % 60000; return nil }); err != nil {
			b.Fatal(err)
		}
	}
}

// Re-importing kftray's 13 example entries (all unchanged).
func BenchmarkReimportExamples(b *testing.B) {
	s, _ := benchStore(b, 0)
	ctx := context.Background()
	var files [][]byte
	for _, f := range exampleFiles(b) {
		files = append(files, readFile(b, f))
		if _, err := s.ImportConfigs(ctx, files[len(files)-1]); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		for _, data := range files {
			if _, err := s.ImportConfigs(ctx, data); err != nil {
				b.Fatal(err)
			}
		}
	}
}
