// Package forwarder is kftray's engine: TCP port forwards to Kubernetes
// services and pods that survive pod restarts, API-server restarts and
// network loss.
//
// # Using it (the daemon, `kftray run`)
//
//	m := forwarder.NewManager(forwarder.Options{
//		Logger:   log,                  // zerolog; quiet by default
//		Binder:   helperBinder,         // or nil: bind directly (high ports on 127.0.0.1)
//		Observer: forwarder.ObserverFunc(func(s forwarder.State) {
//			st.PutState(ctx, ptr(s.StoreState(os.Getpid())))
//		}),
//	})
//	err := m.Start(ctx, cfgs...) // fwdconfig.Config values; returns once each listens or failed
//	m.States()                   // snapshots with counters (poll, e.g. once a second)
//	m.Stop(id...); m.StopAll()   // close listeners and connections, wait for them
//
// Start returns the joined errors of configs that could not start (each
// names the config and what to do); the others run. A config that fails is
// also reported to the Observer in phase Failed. Errors wrapping
// ErrNeedsHelper mean the bind needs the root helper (HelperInstallCommand);
// errors wrapping kube.ErrConfig are kubeconfig/context problems.
//
// # What a forward does
//
// A Forward listens on local_address (default 127.0.0.1) and local_port (0
// picks a free port, see State.Address) through the Binder. Its target (a
// Service port mapped to its targetPort, or pods matching a label
// selector; package target) is watched through informers shared by every
// forward into the same namespace of the same cluster; the Manager loads
// each kubeconfig+context once. The forward keeps an upgraded connection
// to the chosen pod (package tunnel: WebSocket tunnelling first, SPDY
// fallback), dialed before the first client arrives and shared by every
// forward of the Manager to that pod, with a stream pair per local
// connection. An error on one stream closes that local connection only.
// When the kubelet refuses a stream before it reaches the pod (terminating
// or gone, ahead of the watch), the local connection, with the bytes the
// client already sent (up to 64 KiB), is replayed on another ready pod.
// The replayed bytes are counted once, when the client sent them.
//
// When the chosen pod stops being ready or is deleted, the forward dials
// the replacement at once; new connections go there while connections on
// the old pod finish (or are cut by its kubelet). When the upgraded
// connection dies (API server gone, network silent past the ping
// deadline) it is redialed with capped exponential backoff and jitter
// (Options.Backoff: 100 ms doubling to 30 s, reset after 30 s healthy).
// Local connections accepted while there is no connection wait up to
// Options.ConnWait (5 s) and are then closed, never hung.
//
// # State
//
// State carries the phase (starting, running, retrying with attempt,
// last error and next try, failed, stopped), the bound address, the pod and
// container port in use, the transport, and counters (active and total
// connections, bytes each way, reconnects). The Observer is called on every
// change of phase, pod, address or error; counters are read with
// Forward.State or Manager.States. State.StoreState converts to the
// store's runtime-state row.
//
// # Inspecting traffic
//
// Forward.SetInspector (at any time, without a restart; nil turns it off)
// gives every local connection accepted from then on an inspect.Conn: it
// sees which pod each attempt goes to, every chunk in both directions on
// the copy loop's own buffer (no copy), a Discard when an attempt is
// refused and replayed (the replayed bytes are not shown again), and the
// reason the connection ended. Implementations must not block; a slow one
// goes behind inspect.NewAsync, which drops and counts rather than waits.
// With no inspector the copy path pays a nil check per read and allocates
// nothing. See package inspect for the contract.
//
// client-go logs through klog (reflector retries, for example); a daemon
// that wants to stay quiet routes klog to its own logger.
//
// Relay forwards (protocol udp to a service or pod workload, workload_type
// proxy over tcp or udp) deploy a kftray-server relay and run an ordinary
// pod forward to its pods; a UDP forward's relay streams (package udprelay)
// are that pod forward's connections. Package relay decides what the relay
// reaches and keeps it deployed (relay.SpecFor, relay.Keeper, configured by
// Options.Relay); relayfwd.go is the engine's side.
//
// Low ports, allocated loopback addresses and hostnames come from the
// Binder: forwarder/helperbind asks the root helper for them, for UDP forwards
// too when the Binder is a PacketBinder.
//
// Not here yet: the expose workload, HTTP logs (they plug into
// SetInspector).
package forwarder
