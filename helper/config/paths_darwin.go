package config

// DefaultRunDir is root-owned runtime state: socket, locks, pool, sessions.
const DefaultRunDir = "/var/run/kftray-helper"
