package httpapi

import (
	"testing"

	"github.com/kftray-go/kftray/localapi"
)

func TestHubDropsASlowSubscriberOnly(t *testing.T) {
	h := NewHub()
	slow, _ := h.Subscribe()
	fast, cancelFast := h.Subscribe()
	defer cancelFast()
	got := 0
	for i := range hubBuffer + 10 {
		h.Publish(localapi.Event{Type: "forward", Forward: &localapi.Forward{ID: int64(i)}})
		<-fast // keeps up
		got++
	}
	n := 0
	for range slow {
		n++
	}
	if n != hubBuffer {
		t.Fatalf("slow subscriber got %d events then its channel closed; want %d (its buffer)", n, hubBuffer)
	}
	if got != hubBuffer+10 {
		t.Fatalf("fast subscriber got %d", got)
	}

	h.Close(&localapi.Event{Type: "shutdown"})
	if ev, ok := <-fast; !ok || ev.Type != "shutdown" {
		t.Fatalf("after Close: %+v %v; want the shutdown event", ev, ok)
	}
	if _, ok := <-fast; ok {
		t.Fatal("channel still open after Close")
	}
	late, cancel := h.Subscribe()
	cancel()
	if _, ok := <-late; ok {
		t.Fatal("a subscription after Close is open")
	}
}

func TestLoopbackHost(t *testing.T) {
	for host, want := range map[string]bool{
		"127.0.0.1:8080": true, "localhost:1": true, "LOCALHOST": true, "[::1]:80": true, "127.0.0.2": true,
		"evil.example": false, "10.0.0.1:80": false, "localhost.evil.example:80": false, "": false,
	} {
		if got := loopbackHost(host); got != want {
			t.Errorf("loopbackHost(%q) = %v, want %v", host, got, want)
		}
	}
}
