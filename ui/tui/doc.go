// Package tui is kftui, the terminal UI of kftray: a client of the
// per-user daemon's local API (package localapi) and nothing else, so what
// it shows is what the CLI and the web UI show, and a forward started here
// can be stopped from any of them.
//
// Shape: Model is a pure bubbletea model. Update never does I/O; it returns
// commands, and the commands reach the daemon through Backend (satisfied by
// *localapi.Client) and the desktop (browser, clipboard) through Desktop, so
// model tests run against an in-memory backend with a fixed clock and size.
// Live state comes from the daemon's event stream (GET /v1/events), read by
// one goroutine per connection and handed to Update one event at a time;
// there is no polling loop. Run wires a Model to a terminal, and Headless
// does the --non-interactive work (import, start, report) with no UI.
package tui
