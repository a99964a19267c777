package helperclient

// DefaultSocket is where an installed helper listens.
const DefaultSocket = "/run/kftray-helper/helper.sock"
