package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"sort"
	"strings"
	"time"
)

// Targets, in table order.
const (
	tDirect      = "direct"
	tKubectlWS   = "kubectl-ws"
	tKubectlSPDY = "kubectl-spdy"
	tKftrayWS    = "kftray-ws"
	tKftraySPDY  = "kftray-spdy"
	// The real kftray daemon, default transport: as `kftray start`
	// spawns it, detached with setsid (its own session and autogroup; how
	// it was spawned before issue 22) and as a foreground `kftray daemon`.
	tDaemon       = "daemon"
	tDaemonSetsid = "daemon-setsid"
	tDaemonFG     = "daemon-fg"
)

var targets = []string{tDirect, tKubectlWS, tKubectlSPDY, tKftrayWS, tKftraySPDY, tDaemon, tDaemonSetsid, tDaemonFG}

// metric describes one row of the table.
type metric struct {
	Key    string `json:"key"`
	Title  string `json:"title"`
	Unit   string `json:"unit"`
	Higher bool   `json:"higher_is_better"`
}

// Rows, in table order.
var metrics = []metric{
	{"bulk", "bulk {bulk_size} each way, 1 conn", "MiB/s", true},
	{"newconn_p50", "new connection + GET, p50", "ms", false},
	{"newconn_p99", "new connection + GET, p99", "ms", false},
	{"diag_create", "of which: create stream pair (client-go SPDY), p50", "ms", false},
	{"diag_request", "of which: GET on a fresh stream pair, p50", "ms", false},
	{"ka1_rps", "keep-alive, 1 conn", "req/s", true},
	{"ka1_p50", "keep-alive, 1 conn, p50", "ms", false},
	{"ka1_p99", "keep-alive, 1 conn, p99", "ms", false},
	{"ka32_rps", "keep-alive, 32 conns", "req/s", true},
	{"ka32_p50", "keep-alive, 32 conns, p50", "ms", false},
	{"ka32_p99", "keep-alive, 32 conns, p99", "ms", false},
	{"conc_total", "{conc} conns x {conc_size}, total", "ms", false},
	{"conc_fair", "{conc} conns x {conc_size}, max/min conn time", "x", false},
	{"conc_failed", "{conc} conns x {conc_size}, failed conns", "", false},
	{"recovery_delete", "pod deleted → first new conn OK", "ms", false},
	{"recovery_ready", "replacement ready → first new conn OK", "ms", false},
	{"kubectl_exit", "pod deleted → kubectl exits", "ms", false},
	{"scale_ready", "{scale} forwards started at once → all running", "ms", false},
	{"scale_rss_idle_fwd", "RSS per running forward, before any connection", "KiB", false},
	{"scale_heap_idle_fwd", "Go heap per running forward, before any connection", "KiB", false},
	{"scale_rss_fwd", "RSS per forward after one connection each", "KiB", false},
	{"scale_heap_fwd", "Go heap per forward after one connection each", "KiB", false},
	{"scale_rss_total", "engine RSS with {scale} forwards", "MiB", false},
	{"priv_bulk", "bulk via helper-bound :80 listener", "MiB/s", true},
	{"priv_bulk_ref", "bulk, same forward type, directly bound port", "MiB/s", true},
	{"priv_ratio", "helper-bound / directly bound bulk (paired)", "x", true},
	{"priv_newconn_p50", "new conn via helper-bound :80, p50", "ms", false},
	{"priv_newconn_ref", "new conn, directly bound port, p50", "ms", false},
	{"cpu_bulk_fwd", "forwarder CPU per GiB moved (bulk)", "s/GiB", false},
	{"cpu_bulk_api", "API server CPU per GiB moved (bulk)", "s/GiB", false},
	{"cpu_bulk_kubelet", "kubelet CPU per GiB moved (bulk)", "s/GiB", false},
	{"cpu_newconn_fwd", "forwarder CPU per new connection", "ms", false},
	{"cpu_ka32_fwd", "forwarder CPU per 10k requests (32 conns)", "s", false},
	{"sched_bulk_wait", "forwarder run-queue wait per GiB moved (bulk, schedstat)", "s/GiB", false},
	{"sched_bulk_slices", "forwarder timeslices per GiB moved (bulk, schedstat)", "k/GiB", false},
	{"sched_ka32_run", "forwarder on-CPU time per 10k requests (32 conns, schedstat)", "s", false},
	{"sched_ka32_wait", "forwarder run-queue wait per 10k requests (32 conns, schedstat)", "s", false},
	{"sched_ka32_slices", "forwarder timeslices per request (32 conns, schedstat)", "", false},
}

// Results holds every sample, by metric then target.
type Results struct {
	Date     time.Time                       `json:"date"`
	Machine  string                          `json:"machine"`
	Load     string                          `json:"load_before"`
	LoadEnd  string                          `json:"load_after"`
	Quick    bool                            `json:"quick"`
	Reps     int                             `json:"reps"`
	Params   map[string]any                  `json:"params"`
	Samples  map[string]map[string][]float64 `json:"samples"`
	Summary  map[string]map[string]Summary   `json:"summary"`
	Notes    []string                        `json:"notes"`
	Profiles []string                        `json:"profiles,omitempty"`
}

// Summary is a sample set's median and spread.
type Summary struct {
	N      int     `json:"n"`
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

func newResults() *Results {
	return &Results{Samples: map[string]map[string][]float64{}, Params: map[string]any{}}
}

func (r *Results) add(key, target string, v float64) {
	if r.Samples[key] == nil {
		r.Samples[key] = map[string][]float64{}
	}
	r.Samples[key][target] = append(r.Samples[key][target], v)
}

func (r *Results) note(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	if !slices.Contains(r.Notes, s) {
		r.Notes = append(r.Notes, s)
	}
}

func summarize(v []float64) Summary {
	s := slices.Clone(v)
	sort.Float64s(s)
	n := len(s)
	if n == 0 {
		return Summary{}
	}
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return Summary{N: n, Median: med, Min: s[0], Max: s[n-1]}
}

// percentile of durations, in ms.
func percentile(d []time.Duration, p float64) float64 {
	if len(d) == 0 {
		return math.NaN()
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	i = max(0, min(i, len(s)-1))
	return ms(s[i])
}

func (r *Results) summarize() {
	r.Summary = map[string]map[string]Summary{}
	for k, byT := range r.Samples {
		r.Summary[k] = map[string]Summary{}
		for t, v := range byT {
			r.Summary[k][t] = summarize(v)
		}
	}
}

func fmtNum(v float64) string {
	switch a := math.Abs(v); {
	case math.IsNaN(v):
		return "–"
	case v == math.Trunc(v) && a < 1e6:
		return fmt.Sprintf("%.0f", v)
	case a >= 1000:
		return fmt.Sprintf("%.0f", v)
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}

func cell(s Summary, ok bool) string {
	if !ok || s.N == 0 {
		return ""
	}
	if s.N == 1 || s.Min == s.Max {
		return fmtNum(s.Median)
	}
	return fmt.Sprintf("%s (%s–%s)", fmtNum(s.Median), fmtNum(s.Min), fmtNum(s.Max))
}

func (r *Results) ratio(key, a, b string) string {
	x, ok1 := r.Summary[key][a]
	y, ok2 := r.Summary[key][b]
	if !ok1 || !ok2 || x.N == 0 || y.N == 0 || y.Median == 0 {
		return ""
	}
	return fmt.Sprintf("%.2f", x.Median/y.Median)
}

// Markdown renders the table: median (min–max) per target, and ratios
// kftray/kubectl on the same transport and kftray/direct.
func (r *Results) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Run %s on %s; load average before %s, after %s; %d repetition(s)%s.\n\n",
		r.Date.UTC().Format("2006-01-02 15:04 MST"), r.Machine, r.Load, r.LoadEnd, r.Reps, map[bool]string{true: ", quick mode (small sizes)", false: ""}[r.Quick])
	b.WriteString("| metric | unit | direct | kubectl ws | kubectl spdy | kftray ws | kftray spdy | daemon (kftray start) | daemon (setsid) | daemon (foreground) | kftray/kubectl ws | kftray/kubectl spdy | kftray/direct ws | kftray/direct spdy | daemon/kubectl ws | daemon/kftray ws | setsid/kubectl ws | setsid/kftray ws | fg/kubectl ws |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, m := range metrics {
		byT, ok := r.Summary[m.Key]
		if !ok {
			continue
		}
		row := []string{r.title(m.Title), m.Unit}
		for _, t := range targets {
			s, ok := byT[t]
			row = append(row, cell(s, ok))
		}
		row = append(row,
			r.ratio(m.Key, tKftrayWS, tKubectlWS), r.ratio(m.Key, tKftraySPDY, tKubectlSPDY),
			r.ratio(m.Key, tKftrayWS, tDirect), r.ratio(m.Key, tKftraySPDY, tDirect),
			r.ratio(m.Key, tDaemon, tKubectlWS), r.ratio(m.Key, tDaemon, tKftrayWS),
			r.ratio(m.Key, tDaemonSetsid, tKubectlWS), r.ratio(m.Key, tDaemonSetsid, tKftrayWS), r.ratio(m.Key, tDaemonFG, tKubectlWS))
		b.WriteString("| " + strings.Join(row, " | ") + " |\n")
	}
	b.WriteString("\nCells: median (min–max) over repetitions. Ratios are of medians; for MiB/s and req/s higher is better, for times lower is better.\n")
	if len(r.Notes) > 0 {
		b.WriteString("\nNotes:\n")
		for _, n := range r.Notes {
			b.WriteString("- " + n + "\n")
		}
	}
	return b.String()
}

// title fills a metric title's {placeholders} from the run's parameters.
func (r *Results) title(t string) string {
	size := func(k string) string {
		v, _ := r.Params[k].(int64)
		if v >= mib && v%mib == 0 {
			return fmt.Sprintf("%d MiB", v/mib)
		}
		return fmt.Sprintf("%d KiB", v>>10)
	}
	return strings.NewReplacer(
		"{conc}", fmt.Sprint(r.Params["conc"]),
		"{conc_size}", size("conc_bytes"),
		"{bulk_size}", size("bulk_bytes"),
		"{scale}", fmt.Sprint(r.Params["scale"]),
	).Replace(t)
}

func (r *Results) writeJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
