// Package fwdconfig is kftray's config model: one port-forward definition
// (Config), its kftray-compatible JSON (ParseConfigs, FormatConfigs,
// Config.MarshalJSON/UnmarshalJSON), its validation (Config.Validate,
// *ValidationError, *ImportError), kftray's rule for "the same forward"
// (SameForward) and the forward statuses.
//
// It is shared by the store (which persists configs), the forwarder (which
// runs them) and the local API (which carries them to clients), so it is a
// leaf: the standard library only. In particular it checks Kubernetes names
// and label selectors itself (names.go, selector.go) instead of importing
// k8s.io/apimachinery, so that API clients link no Kubernetes code; a test
// holds those checks to apimachinery's answers.
package fwdconfig
