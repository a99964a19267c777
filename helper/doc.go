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
//     inside 127.0.0.0/8 not containing 127.0.0.1, and name suffixes that
//     are a dot and RFC 1123 labels (never localhost);
//   - at most 8 sessions per uid and 64 in all;
//   - the launch request must arrive within 10 s, in one frame of at most
//     1 MiB with exactly 3 descriptors, the third a unix socket; extra,
//     missing or truncated descriptors close all of them;
//   - from the forwarder's environment keeps only go-plugin's handshake
//     variables (cookie, protocol versions, client certificate, multiplex,
//     min/max port), each at most 8 KiB and free of NUL; sets the socket
//     directory, its group, TMPDIR and PATH itself;
//   - runs the plugin from its own executable path with arguments it
//     chooses (uid, session id, config, hosts and run paths), in a new
//     session, with SIGTERM as its parent-death signal, in a root-owned
//     0750 session directory whose group is the peer's gid;
//   - when the connection closes (or the service stops) asks the plugin to
//     stop with SIGTERM and kills its process group only if it is still
//     there 5 s later (StopGrace); signals only a plugin it has not reaped
//     (it waits for the exit with WNOWAIT, or kqueue on macOS, and reaps
//     under the same lock it signals under), so a recycled pid is never
//     hit; then removes the session's hosts lines, aliases and addresses;
//   - at start and at stop: finishes or undoes an interrupted hosts write
//     (the journal), removes stale temporary hosts files of ours, sweeps
//     every managed line and allocation.
//
// Plugin (`kftray-helper plugin`): on SIGTERM, on its launcher's death and
// when go-plugin's Serve returns (a client's Shutdown), it lets a hosts
// write under way finish, starts no other, and exits; so the hosts lock is
// never lost to a kill the launcher sends. The lock is held for one read
// and one write of the file, never while waiting on the client.
//
// fd channel frames (ipc/fdpass): length-prefixed, body at most 1 MiB, at
// most 4 descriptors and only on a frame's first byte; MSG_CTRUNC, control
// messages other than SCM_RIGHTS, or descriptors inside a body are errors,
// and every descriptor of a bad frame is closed. No buffered reads.
//
// RPCs (helper/session):
//   - addresses must parse; IPv4-mapped IPv6 is unmapped first;
//   - ReleaseAddress, AddLoopbackAlias, RemoveLoopbackAlias: only addresses
//     this session allocated; aliases run /sbin/ifconfig by absolute path
//     (macOS; no-op on Linux);
//   - AllocateAddress: from the configured pool only, never 127.0.0.1, at
//     most 1024 per uid, unique across sessions (flock'd state file);
//   - BindListener: network tcp or udp; port 0-65535 (0: the kernel picks
//     an ephemeral port); loopback only, no zone; on 127.0.0.1 and ::1 ports
//     1-1023 only if listed in shared_loopback_ports; any other loopback address only if this
//     session allocated it; no SO_REUSEPORT, no multipath TCP; the helper
//     closes its copy after passing the descriptor;
//   - SetHosts: lease 1-64 of [A-Za-z0-9._-] starting alphanumeric; every
//     address loopback; every entry has names; every name ASCII with no
//     space, '#' or control character, RFC 1123 labels, at most 253 bytes,
//     never localhost or *.localhost, never this machine's host name (the
//     kernel's and /etc/hostname's, in full and short, read at each
//     request), ending in .test or a suffix the config lists (name_suffixes:
//     install --allow-suffix), or a single label only if the config says
//     allow_single_label (install --allow-single-label; off by default),
//     not twice in one request per family, not defined by the file's own
//     lines outside the block, not managed by another lease in either
//     family, and within the per-uid cap (max_hosts_per_uid, default 256).
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
// A journal that is not a regular root-owned file is refused. At start the
// service removes regular files of ours (root-owned, named .hosts.atomic-*
// or .hosts.kftray-*) beside the hosts file. After a change the DNS cache
// is flushed (resolvectl by absolute path) at most once per 2 s per
// process; requests in between share one flush at the end of the 2 s.
//
// Install (helper/install): the binary is opened O_NOFOLLOW and read once
// (at most 512 MiB); its minisign signature must verify (prehashed
// Ed25519, trusted comment included) against a key built into kftray, and
// the trusted comment must name kftray-helper, this os and arch, the
// expected version and the sha256 of exactly those bytes; the file is
// written root:root 0755 (setuid/setgid bits stripped) via temp + fsync +
// rename. --insecure-skip-signature skips only the signature, loudly. An
// existing config's users and policy are kept only if it passes the
// service's own checks; otherwise it is replaced. --allow-suffix (checked
// like the config's suffixes) and --allow-single-label add to the name
// policy; install never removes an allowance.
package helper
