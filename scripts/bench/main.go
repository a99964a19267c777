// Command bench measures kftray's forwarding against kubectl port-forward
// and against a direct loopback connection to the pod's backend (the limit),
// on one dev cluster, in one run:
//
//	go run ./scripts/bench                 # full run (about 15-25 minutes)
//	go run ./scripts/bench -quick          # small sizes, one repetition (CI smoke test)
//	go run ./scripts/bench -profile /tmp/p # also CPU profiles of the kftray engine
//
// kftray runs in a child process (`bench engine`) as kubectl does, so that
// its CPU time and RSS are measured on their own; the real kftray daemon is
// measured too, started as `kftray start` starts it (localapi.Ensure), with
// setsid as before issue 22, and in the foreground. Results: a markdown table
// on stdout (and -md), every sample in JSON (-out). See docs/benchmarks.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/kftray-go/kftray/e2e/cluster"
)

type params struct {
	quick      bool
	reps       int
	out, md    string
	devcluster string
	kubectl    string
	helperBin  string
	profile    string
	skip       string

	bulkSize    int64
	newConnN    int
	kaDur       time.Duration
	concN       int
	concSize    int64
	scaleN      int
	scaleSvcs   int
	privNewConn int
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "engine" {
		if err := runEngine(); err != nil {
			fmt.Fprintln(os.Stderr, "bench engine:", err)
			os.Exit(1)
		}
		return
	}
	var p params
	flag.BoolVar(&p.quick, "quick", false, "small sizes and one repetition (smoke test)")
	flag.IntVar(&p.reps, "reps", 0, "repetitions (default 5, quick 1)")
	flag.StringVar(&p.out, "out", filepath.Join(os.TempDir(), "kftray-bench.json"), "JSON output file")
	flag.StringVar(&p.md, "md", "", "also write the markdown table to this file")
	flag.StringVar(&p.devcluster, "devcluster", "", "dev cluster binary (default: $KFTRAY_DEVCLUSTER_BIN or scripts/devcluster/bin/devcluster)")
	flag.StringVar(&p.kubectl, "kubectl", "/usr/bin/kubectl", "kubectl binary")
	flag.StringVar(&p.helperBin, "helper-bin", "", "prebuilt kftray-helper (default: go build ./cmd/kftray-helper)")
	flag.StringVar(&p.profile, "profile", "", "directory for CPU profiles of the kftray engine (an extra, unrecorded pass)")
	flag.StringVar(&p.skip, "skip", "", "comma-separated phases to skip: bulk,newconn,keepalive,concurrent,recovery,scale,priv")
	flag.Int64Var(&p.bulkSize, "bulk-size", 256*mib, "bytes each way for the bulk test")
	flag.IntVar(&p.newConnN, "newconn", 1000, "sequential new connections")
	flag.DurationVar(&p.kaDur, "keepalive", 5*time.Second, "duration of each keep-alive run")
	flag.IntVar(&p.concN, "conc", 200, "concurrent connections")
	flag.Int64Var(&p.concSize, "conc-size", mib, "bytes each concurrent connection downloads")
	flag.IntVar(&p.scaleN, "scale", 200, "forwards started at once in the scale test")
	flag.IntVar(&p.scaleSvcs, "scale-services", 20, "services the scale test's forwards spread over")
	flag.IntVar(&p.privNewConn, "priv-newconn", 300, "new connections through the helper-bound listener")
	flag.Parse()
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if p.quick {
		for name, v := range map[string]func(){
			"bulk-size":    func() { p.bulkSize = 16 * mib },
			"newconn":      func() { p.newConnN = 100 },
			"keepalive":    func() { p.kaDur = time.Second },
			"conc":         func() { p.concN = 50 },
			"conc-size":    func() { p.concSize = 256 << 10 },
			"scale":        func() { p.scaleN = 20 },
			"priv-newconn": func() { p.privNewConn = 50 },
		} {
			if !set[name] {
				v()
			}
		}
		if !set["scale-services"] {
			p.scaleSvcs = 4
		}
	}
	if p.reps <= 0 {
		p.reps = 5
		if p.quick {
			p.reps = 1
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, p); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func (p params) skipped(phase string) bool {
	for _, s := range strings.Split(p.skip, ",") {
		if strings.TrimSpace(s) == phase {
			return true
		}
	}
	return false
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func run(ctx context.Context, p params) error {
	res := newResults()
	res.Date, res.Machine, res.Load, res.Quick, res.Reps = time.Now(), machine(), loadavg(), p.quick, p.reps
	res.Params = map[string]any{
		"bulk_bytes": p.bulkSize, "newconn": p.newConnN, "keepalive_s": p.kaDur.Seconds(),
		"conc": p.concN, "conc_bytes": p.concSize, "scale": p.scaleN, "scale_services": p.scaleSvcs,
	}
	progress("machine: %s; load %s", res.Machine, res.Load)

	progress("starting the dev cluster")
	t0 := time.Now()
	c, err := cluster.Start(ctx, cluster.Options{Binary: p.devcluster})
	if err != nil {
		return err
	}
	defer c.Stop()
	progress("dev cluster up in %v (%s)", time.Since(t0).Round(time.Millisecond), c.Dir)

	b := &bench{p: p, c: c, res: res, ns: "bench"}
	defer b.close()
	if err := b.setup(ctx); err != nil {
		return err
	}
	for rep := 1; rep <= p.reps; rep++ {
		if err := b.rep(ctx, rep); err != nil {
			return fmt.Errorf("repetition %d: %w", rep, err)
		}
	}
	if p.profile != "" {
		if err := b.profilePass(ctx); err != nil {
			res.note("profile pass failed: %v", err)
		}
	}
	res.LoadEnd = loadavg()
	res.summarize()
	md := res.Markdown()
	fmt.Println(md)
	if p.md != "" {
		if err := os.WriteFile(p.md, []byte(md), 0o644); err != nil {
			return err
		}
	}
	if err := res.writeJSON(p.out); err != nil {
		return err
	}
	abs, _ := filepath.Abs(p.out)
	progress("wrote %s", abs)
	return nil
}

func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		fmt.Sscanf(strings.SplitN(string(b), "\n", 2)[0], "MemTotal: %d kB", &kb)
		mem = fmt.Sprintf(", %.0f GiB", float64(kb)/(1<<20))
	}
	kernel := ""
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = ", Linux " + strings.TrimSpace(string(b))
	}
	return fmt.Sprintf("%d CPU %s%s%s, %s", runtime.NumCPU(), model, mem, kernel, runtime.Version())
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
