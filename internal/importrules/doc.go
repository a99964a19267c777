// Package importrules has no code: its test holds the module to the
// import directions docs/architecture.md states, so that a change that
// breaks one fails here, with the rule and the path that breaks it.
package importrules
