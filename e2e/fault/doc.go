// Package fault holds kftray's fault tests (build tags e2e and linux): they
// break things under a running forward on the dev cluster (real API server,
// controllers, EndpointSlices and the kubelet's own port-forward code) and
// check that the forward recovers by itself and that no local connection
// hangs past its bound:
//
//	go test -tags e2e ./e2e/fault/
//
// Timings are logged, never asserted; bounds are generous and fail with
// what was being waited for. The partition test needs root (network
// namespace, veth pair).
package fault
