// Package cluster runs the dev cluster, a real Kubernetes control plane on
// loopback, for kftray's end-to-end tests, benchmarks and demo.
//
// The components come from one multi-call binary built from
// scripts/devcluster (its own Go module, so k8s.io/kubernetes never enters
// this one): an embedded etcd, the upstream kube-apiserver,
// kube-controller-manager and kube-scheduler, KWOK for node and pod status,
// and a kubelet port-forward server that uses the kubelet's own streaming
// code (k8s.io/cri-streaming). Deployments, ReplicaSets, EndpointSlices,
// scheduling, RBAC, watches and port-forward through the API server (SPDY
// and WebSocket) are the real thing; only containers are simulated.
//
// # Using it from tests
//
//	func TestMain(m *testing.M) { os.Exit(cluster.Main(m)) }
//
//	func TestX(t *testing.T) {
//		c := cluster.Get(t)      // skips without the binary; fails in CI
//		ns := c.Namespace(t)     // fresh namespace, deleted after the test
//		c.Deploy(ctx, ns, cluster.App{Name: "web", Replicas: 2})
//		pods, _ := c.ReadyPods(ctx, ns, "web", 2)
//		...
//	}
//
// c.Kubeconfig is a kubeconfig file with one context, c.Context; c.Client
// and c.RESTConfig talk to the API server as cluster admin.
// Build the binary with scripts/devcluster/build (about 11 minutes cold).
//
// # Pods and their backends
//
// Every pod scheduled on the node gets, from the kubelet, its own local
// server per container port, on a loopback port of its own, answering as that
// pod. A port-forward to the pod's port N reaches the backend of container
// port N; a port no container declares is refused, as an unbound port would be.
//
//   - TCP ports named "echo", "tcp-echo", "echo-*" or "*-echo": raw TCP echo.
//   - Other TCP ports: HTTP/1.1. GET / (and any GET path not listed here)
//     answers the pod's name followed by "\n"; GET /bytes?n=N streams N bytes;
//     POST /echo answers the request body; GET /healthz answers "ok\n". Every
//     response carries X-Pod-Name and X-Pod-Namespace headers.
//   - UDP ports: each datagram is answered with "<pod name>: " followed by
//     the datagram. Port-forward does not carry UDP; find the address in the
//     pod's AnnotationBackends or with Cluster.Pod.
//
// The kubelet records the backends in the pod's AnnotationBackends before
// KWOK marks the pod ready, so a ready pod always has its backends running.
// A pod annotated with AnnotationBackendAddr ("host:port") has its
// port-forwards sent to a process the test runs itself (the relay tests run
// kftray-server so); for pods the code under test creates, RouteImage does
// the same for every pod running a given image.
//
// When a pod is deleted (or finishes), its backends stop, their connections
// are reset and its open port-forward streams end with an error, as with a
// real kubelet; the API server connection carrying them stays up and new
// streams to the pod fail.
//
// # Faults
//
// StopAPIServer/StartAPIServer take the API server away and back;
// StopKWOK/StartKWOK the node agent. Per pod, CutStreams ends its open
// streams with an error, StallStreams holds their bytes for a while, and
// DropConnections closes the API server's upgraded connections to the pod.
// These use the kubelet's control endpoint, plain HTTP on loopback at
// ControlURL: GET /pods; POST /cut, /drop, /stall with form values
// namespace, name (and duration); POST /image-route with image and addr.
//
// # Processes
//
// Each component is a child process in its own process group with its log
// in Dir/logs. Stop ends them in reverse start order and waits for each. On
// Linux every child also has a parent-death signal, so none survives the
// test binary, even when it is killed with SIGKILL.
package cluster
