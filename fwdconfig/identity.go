package fwdconfig

import "reflect"

// SameForward is kftray's rule for "this imported entry is that stored
// config": same context, namespace, workload type and protocol, plus the
// service (and both ports, when both sides give an explicit local port),
// the pod selector, or the proxied address.
func SameForward(a, b *Config) bool {
	if a.Context != b.Context || a.Namespace != b.Namespace ||
		a.WorkloadType != b.WorkloadType || a.Protocol != b.Protocol {
		return false
	}
	switch a.WorkloadType {
	case WorkloadService:
		if a.Service != b.Service {
			return false
		}
		if a.LocalPort != 0 && b.LocalPort != 0 {
			return a.LocalPort == b.LocalPort && a.RemotePort == b.RemotePort
		}
		return true
	case WorkloadPod:
		return a.Target == b.Target
	case WorkloadProxy:
		return a.RemoteAddress == b.RemoteAddress
	default:
		return a.Service == b.Service && a.Target == b.Target && a.RemoteAddress == b.RemoteAddress &&
			a.Alias == b.Alias
	}
}

// SameContent reports whether a and b say the same thing once normalized,
// ignoring ID and Revision (an import that changes nothing).
func SameContent(a, b Config) bool {
	a.ID, b.ID, a.Revision, b.Revision = 0, 0, 0, 0
	a.normalize()
	b.normalize()
	return reflect.DeepEqual(a, b)
}
