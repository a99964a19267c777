package udprelay_test

import (
	"fmt"
	"testing"

	"github.com/kftray-go/kftray/forwarder/udprelay"
	"github.com/kftray-go/kftray/forwarder/udprelay/udpbench"
)

// The UDP benchmarks compare a UDP echo server reached directly (the limit)
// with the same server reached through udprelay.Client -> loopback TCP ->
// kftray-server. forwarder/relay has the same benchmarks through a real
// port-forward path. Run:
//
//	go test -run '^$' -bench . -benchtime 20000x ./forwarder/udprelay/

func benchTargets(b *testing.B) []struct{ name, addr string } {
	echoPort := startUDPUpstream(b, echo)
	w := newWorld(b, echo, udprelay.Options{})
	return []struct{ name, addr string }{
		{"direct", fmt.Sprintf("127.0.0.1:%d", echoPort)},
		{"relay", w.local},
	}
}

func BenchmarkUDP(b *testing.B) {
	for _, tg := range benchTargets(b) {
		c, err := udpbench.Dial(tg.addr)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		udpbench.Run(b, tg.name, c)
	}
}
