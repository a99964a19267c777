package helperclient

// DefaultSocket is where an installed helper listens.
const DefaultSocket = "/var/run/kftray-helper/helper.sock"
