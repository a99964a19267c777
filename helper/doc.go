// Package helper is the root side of kftray: the launcher
// (helper/launcher), the per-session RPC implementation (helper/session),
// the hosts block (helper/hosts), the address pool (helper/addrpool), the
// root config (helper/config) and install (helper/install). The forwarder
// reaches it only through ipc/helperclient.
//
// Every check the helper makes on its input:
//
// Launcher (`kftray-helper service`), per connection:
//   - refuses to run at all when the real and effective uids differ (setuid);
//   - identifies the peer by SO_PEERCRED / LOCAL_PEERCRED only, and allows
//     it only if its uid is in allowed_uids of the config;
//   - re-reads the config for every connection and refuses it unless the
//     file is a regular file (not a symlink), root-owned, not group/world
//     writable, in directories up to / that are root-owned and not writable
//     by others (sticky ones excepted), with no unknown fields, a pool
//     inside 127.0.0.0/8 not containing 127.0.0.1, name suffixes that are
//     a dot and RFC 1123 labels (never localhost), and udp_low_ports within
//     1-1023;
//   - at most 8 sessions per uid and 64 in all;
//   - the launch request must arrive within 10 s, in one frame of at most
//     1 MiB with exactly 3 descriptors: stdout and stderr must be pipes
//     (fstat S_IFIFO; never a file or device root would write to), the fd
//     channel an AF_UNIX SOCK_STREAM socket (SO_TYPE and getsockname);
//     missing, extra or wrong-kind descriptors close all of them and the
//     answer names what was wrong; a frame ipc/fdpass refuses (more than
//     4 descriptors, truncated control data, descriptors inside the body)
//     closes them all and the connection, with no answer;
//   - from the forwarder's environment keeps only go-plugin's handshake
//     variables (cookie, protocol versions, client certificate, multiplex,
//     min/max port), each at most 8 KiB and free of NUL, and refuses the
//     request unless PLUGIN_CLIENT_CERT holds a PEM X.509 certificate
//     (without one go-plugin would serve plaintext gRPC); sets the socket
//     directory, TMPDIR and PATH itself (no socket group);
//   - runs the plugin from the binary it is itself running (/proc/self/exe
//     on Linux, so a file put at the installed path later never runs; on
//     macOS the path resolved at start, refused once it names another
//     file), with arguments it chooses (uid, a random 16-hex-digit session
//     id, config, hosts and run paths), working directory /, in a new
//     session, with SIGTERM as its parent-death signal, with a root-owned
//     0711 session directory under a root-owned 0711 sessions directory
//     (both checked not group/world writable);
//   - re-reads the config once the plugin has started, and ends the
//     session at once if the uid was dropped while it was starting;
//   - after the launch answer reads nothing but the end of the connection:
//     any byte from the forwarder ends the session (one read, no
//     byte-at-a-time draining);
//   - stats the config every 2 s (and re-reads it on SIGHUP); when it
//     changed, ends the live sessions of every uid it no longer allows, and
//     all of them if it is unusable;
//   - when the connection closes (or the service stops, or the uid is
//     revoked) asks the plugin to stop with SIGTERM and kills its process
//     group only if it is still there 5 s later (StopGrace); signals only a
//     plugin it has not reaped (it waits for the exit with WNOWAIT, or
//     kqueue on macOS, and reaps under the same lock it signals under), so
//     a recycled pid is never hit; then removes the session's hosts lines,
//     aliases and addresses;
//   - at start, at stop and for `kftray-helper cleanup`: finishes or
//     undoes an interrupted hosts write (the journal), removes stale
//     temporary hosts files of ours, sweeps every managed line, allocation
//     and session directory.
//
// Plugin (`kftray-helper plugin`): on SIGTERM, on its launcher's death and
// when go-plugin's Serve returns (a client's Shutdown), it lets a hosts
// write under way finish, starts no other, and exits; so the hosts lock is
// never lost to a kill the launcher sends. The lock is held for one read
// and one write of the file, never while waiting on the client.
//
// Plugin (`kftray-helper plugin`), before it serves:
//   - refuses to run when setuid, when descriptor 3 is not a unix socket
//     (the fd channel), when the session id is not 1-32 lowercase letters
//     or digits, when the config fails the service's checks, without a PEM
//     client certificate in PLUGIN_CLIENT_CERT, or when the socket
//     directory is not an absolute, root-owned directory (and parent) that
//     no one else can write;
//   - holds go-plugin's handshake line until the socket it names is a unix
//     socket in that directory, with mutual TLS set up (a server
//     certificate in the line), made 0600 and owned by the session's uid
//     (not its group: others in e.g. staff cannot connect); only then does
//     the forwarder learn the address. Otherwise it exits.
//
// fd channel frames (ipc/fdpass): length-prefixed, body at most 1 MiB, at
// most 4 descriptors and only on a frame's first byte; MSG_CTRUNC, control
// messages other than SCM_RIGHTS, or descriptors inside a body are errors,
// and every descriptor of a bad frame is closed. No buffered reads.
//
// RPCs (helper/session), each a gRPC message of at most gRPC's default
// 4 MiB:
//   - addresses must parse; IPv4-mapped IPv6 is unmapped first;
//   - ReleaseAddress, AddLoopbackAlias, RemoveLoopbackAlias: only addresses
//     this session allocated; aliases run /sbin/ifconfig by absolute path
//     (macOS; no-op on Linux);
//   - AllocateAddress: from the configured pool only, never 127.0.0.1, at
//     most 1024 per uid, unique across sessions (flock'd state file,
//     replaced by internal/atomicfile: fresh O_EXCL temp, fsync, rename),
//     and never an address any process holds a TCP or UDP socket on (Linux:
//     /proc/net/{tcp,tcp6,udp,udp6}, entries with a socket inode; macOS:
//     netstat): a socket kept from an ended session, or bound directly at a
//     high port, keeps its address from every other session; if the
//     socket table cannot be read nothing is allocated;
//   - BindListener: network tcp or udp; port 0-65535 (0: the kernel picks
//     an ephemeral port); loopback only, no zone; udp ports 1-1023 only if
//     listed in udp_low_ports (default 53); on 127.0.0.1 and ::1 ports
//     1-1023 only if also listed in shared_loopback_ports; any other
//     loopback address only if this session allocated it; no SO_REUSEPORT,
//     no multipath TCP; TCP sockets leave listening, with a socket filter
//     locked on (SO_LOCK_FILTER, Linux) that drops every SYN-ACK, so a
//     listener turned back into a connectable socket (connect AF_UNSPEC)
//     cannot complete a handshake from its privileged port; the helper
//     closes its copy after passing the descriptor;
//   - SetHosts: lease 1-64 of [A-Za-z0-9._-] starting alphanumeric; every
//     address loopback; every entry has names; every name ASCII with no
//     space, '#' or control character, RFC 1123 labels, at most 253 bytes,
//     never localhost or *.localhost, never this machine's host name (the
//     kernel's and /etc/hostname's, in full and short, read at each
//     request), ending in .test or a suffix the config lists (name_suffixes:
//     install --allow-suffix), or a single label only if the config says
//     allow_single_label (install --allow-single-label; off by default), an
//     address in the pool only if this session allocated it (a socket left
//     from an ended session gets no new names), not twice in one request
//     per family, not defined by the file's own lines outside the block, not
//     managed by another lease in either family, and within the per-uid cap
//     (max_hosts_per_uid, default 256); the host names and the session's
//     pool addresses are read once per write, not per entry or name;
//   - ListHosts: every managed line (the hosts file is world-readable
//     anyway); Version: the helper's version and the sha256 of the binary
//     the kernel runs.
//
// Hosts file writes (helper/hosts): serialized by flock on a lock under the
// run directory; the file is opened O_NOFOLLOW and must be a regular file
// of at most 16 MiB (a larger one is refused with its size, never cut),
// and a write that would make it larger is refused; a block with
// unbalanced or duplicated markers is refused, not repaired; only the
// block is parsed and rendered (txeh); unchanged content is not rewritten;
// if another writer changed the file since it was read (inode, size or
// mtime differ) the update starts over, up to 5 times. The replacement is
// a new temporary file (internal/atomicfile: a unique .hosts.atomic-* name
// per write, O_EXCL) with the original mode, owner and SELinux label,
// fsynced, renamed over the file and its directory fsynced; readers see
// the old file or the new one. When rename cannot work (EBUSY, EXDEV,
// EROFS: a bind-mounted /etc/hosts, systemd's read-only /etc) the same
// inode (checked) is rewritten in place, after a journal (the inode and
// the old and new content, root-owned 0600 in the run directory, written
// atomically and synced) and removed once the rewrite is synced. Whoever
// takes the lock next, in any helper process, reads the journal first: a
// file that is a byte-wise mix of the old and new content (a write or a
// truncate cut short) gets the old content back; a whole old or new file
// is kept; anything else (someone edited the file since) is left alone.
// A journal that is not a regular root-owned file, writable by root alone,
// is refused. The sweep (start, stop, cleanup) removes regular files of
// ours (root-owned, named .hosts.atomic-* or .hosts.kftray-*) beside the
// hosts file. After a change the DNS cache is flushed (resolvectl by
// absolute path, 5 s timeout) at most once per 2 s per process; requests
// in between share one flush at the end of the 2 s.
//
// Install (helper/install): the binary is opened O_NOFOLLOW and read once
// (at most 512 MiB); its minisign signature must verify (prehashed
// Ed25519, trusted comment included) against a key built into kftray, and
// the trusted comment must name kftray-helper, this os and arch, the
// expected version and the sha256 of exactly those bytes; the file is
// written root:root 0755 (setuid/setgid bits stripped) via temp + fsync +
// rename. --insecure-skip-signature skips only the signature, loudly. Every
// directory it writes into, and each ancestor along the written and the
// resolved path, must be root-owned (or the installing uid's, for
// unprivileged --root installs) and not group/world writable; a sticky
// ancestor (/tmp) is allowed, a sticky target directory is not. An
// existing config's users and policy are kept only if it passes the
// service's own checks; otherwise it is replaced. --allow-suffix (checked
// like the config's suffixes) and --allow-single-label add to the name
// policy; install never removes an allowance.
//
// Residual risks, by design or platform (README "Security model"): a UDP
// socket on an allowed low port can send datagrams from that port to any
// loopback service; TCP Fast Open data in a SYN from a disconnected
// listener reaches a service that enabled server-side TFO and holds a
// cookie for it; a wildcard (0.0.0.0) listener, or a socket bound right
// after an address was handed out, still receives traffic for the ports a
// session does not bind itself; macOS relies on XNU refusing connect() on
// a socket that listened; the hosts journal lives in /run, so a power loss
// during an in-place rewrite can leave a file that needs a look by hand.
package helper
