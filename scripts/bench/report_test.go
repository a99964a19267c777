package main

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want Summary
	}{
		{nil, Summary{}},
		{[]float64{3}, Summary{N: 1, Median: 3, Min: 3, Max: 3}},
		{[]float64{5, 1, 3}, Summary{N: 3, Median: 3, Min: 1, Max: 5}},
		{[]float64{4, 1, 3, 2}, Summary{N: 4, Median: 2.5, Min: 1, Max: 4}},
	} {
		if got := summarize(tc.in); got != tc.want {
			t.Errorf("summarize(%v) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for _, tc := range []struct{ p, want float64 }{{50, 50}, {99, 99}, {100, 100}, {1, 1}} {
		if got := percentile(d, tc.p); got != tc.want {
			t.Errorf("p%v = %v, want %v", tc.p, got, tc.want)
		}
	}
	if !math.IsNaN(percentile(nil, 50)) {
		t.Error("percentile of nothing is not NaN")
	}
}

func TestMarkdownRatios(t *testing.T) {
	r := newResults()
	r.Params["bulk_bytes"] = int64(256 * mib)
	for _, v := range []float64{100, 110, 90} {
		r.add("bulk", tKubectlWS, v)
		r.add("bulk", tKftrayWS, 2*v)
		r.add("bulk", tDirect, 10*v)
	}
	r.summarize()
	md := r.Markdown()
	row := ""
	for _, l := range strings.Split(md, "\n") {
		if strings.HasPrefix(l, "| bulk 256 MiB each way") {
			row = l
		}
	}
	if row == "" {
		t.Fatalf("no bulk row in:\n%s", md)
	}
	// kftray ws / kubectl ws = 2.00; kftray ws / direct = 0.20.
	for _, want := range []string{"| 200 (180–220) |", "| 2.00 |", "| 0.20 |", "| 1000 (900–1100) |"} {
		if !strings.Contains(row, want) {
			t.Errorf("bulk row lacks %q: %s", want, row)
		}
	}
}
