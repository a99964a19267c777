package store

import (
	"context"
	"testing"

	"github.com/kftray-go/kftray/fwdconfig"
)

func svcConfig(alias, svc string, port int) fwdconfig.Config {
	return fwdconfig.Config{Alias: alias, Namespace: "team", WorkloadType: "service", Protocol: "tcp", Service: svc, RemotePort: port, LocalPort: port}
}

// TestMergeDryRunAndFlush: a dry run plans without writing; a flush
// deletes the stored configs the incoming set has no entry for, which
// frees their aliases for the incoming ones.
func TestMergeDryRunAndFlush(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	if _, _, err := s.MergeConfigs(ctx, []fwdconfig.Config{svcConfig("api", "api", 80), svcConfig("db", "db", 5432)}, MergeOptions{}); err != nil {
		t.Fatal(err)
	}
	// api's port changed: another forward under kftray's rule, so merged it
	// clashes with the stored api's alias.
	next := []fwdconfig.Config{svcConfig("api", "api", 8080), svcConfig("cache", "cache", 6379)}
	if _, _, err := s.MergeConfigs(ctx, next, MergeOptions{DryRun: true}); err == nil {
		t.Fatal("merge of a changed port under the same alias: no error; want the alias clash")
	}
	_, plan, err := s.MergeConfigs(ctx, next, MergeOptions{DryRun: true, Flush: true})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, ch := range plan {
		got[ch.Action+" "+ch.Config.Alias] = ch.Config.Service
	}
	want := map[string]string{"delete api": "api", "delete db": "db", "add api": "api", "add cache": "cache"}
	if len(got) != len(want) {
		t.Fatalf("plan %v, want %v", got, want)
	}
	for k := range want {
		if _, ok := got[k]; !ok {
			t.Fatalf("plan %v, want %v", got, want)
		}
	}
	if list, _ := s.ListConfigs(ctx); len(list) != 2 || list[0].RemotePort != 80 {
		t.Fatalf("dry run wrote: %+v", list)
	}
	res, _, err := s.MergeConfigs(ctx, next, MergeOptions{Flush: true})
	if err != nil || len(res.Added) != 2 {
		t.Fatalf("flush: %+v %v", res, err)
	}
	list, _ := s.ListConfigs(ctx)
	if len(list) != 2 || list[0].Alias != "api" || list[0].RemotePort != 8080 || list[1].Alias != "cache" {
		t.Fatalf("after the flush: %+v", list)
	}
}
