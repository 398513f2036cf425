import CGlibcLinux
import Glibc

/// What a child gets: a program, its arguments and environment, where its output goes.
struct SpawnRequest {
  var path: String
  var arguments: [String]
  var environment: [String]
  /// Descriptor that becomes the child's stdout and stderr.
  var output: Int32
  /// When set, the child opens this terminal as stdout and stderr (stdin stays /dev/null).
  /// Opened after setsid (glibc's posix_spawn applies SETSID before file actions), it becomes
  /// the controlling terminal of the child's new session.
  var terminalPath: String? = nil
  /// When set, stderr goes here rather than to `output` (a detached forge's start-up report).
  var errorOutput: Int32? = nil
  /// With `terminalPath`: the terminal is stdin too (`--interactive`), not /dev/null.
  var terminalInput = false
}

/// Starts a child with posix_spawn: its own session and process group (SETSID; together
/// with SETPGROUP it fails with EPERM, and a session leader leads its own group), an empty
/// signal mask and default dispositions for every signal (SETSIGMASK, SETSIGDEF: forge's own
/// mask blocks the handled signals and it ignores SIGPIPE), stdin from /dev/null and no other
/// inherited descriptor (addclosefrom_np(3), no per-descriptor loop however high
/// RLIMIT_NOFILE is). Returns the child's pid, which is also its process group id.
func spawn(_ request: SpawnRequest) throws(SystemError) -> pid_t {
  var attributes = posix_spawnattr_t()
  try checkReturnedError("posix_spawnattr_init", posix_spawnattr_init(&attributes))
  defer { posix_spawnattr_destroy(&attributes) }
  var actions = posix_spawn_file_actions_t()
  try checkReturnedError("posix_spawn_file_actions_init", posix_spawn_file_actions_init(&actions))
  defer { posix_spawn_file_actions_destroy(&actions) }

  var empty = sigset_t()
  sigemptyset(&empty)
  // Every bit set, not sigfillset: glibc leaves its internal signals (32, 33) out of that,
  // and posix_spawn then starts the child with them ignored (SigIgn 180000000).
  var all = sigset_t()
  withUnsafeMutableBytes(of: &all) { bytes in
    for i in bytes.indices { bytes[i] = 0xFF }
  }
  try checkReturnedError("posix_spawnattr_setsigmask", posix_spawnattr_setsigmask(&attributes, &empty))
  try checkReturnedError(
    "posix_spawnattr_setsigdefault", posix_spawnattr_setsigdefault(&attributes, &all))
  let flags = Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF) | cglibc_spawn_setsid()
  try checkReturnedError("posix_spawnattr_setflags", posix_spawnattr_setflags(&attributes, flags))

  try checkReturnedError(
    "posix_spawn_file_actions_addopen",
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0))
  if let terminal = request.terminalPath {
    try checkReturnedError(
      "posix_spawn_file_actions_addopen",
      posix_spawn_file_actions_addopen(&actions, 1, terminal, O_RDWR, 0))
    try checkReturnedError(
      "posix_spawn_file_actions_adddup2", posix_spawn_file_actions_adddup2(&actions, 1, 2))
    if request.terminalInput {
      try checkReturnedError(
        "posix_spawn_file_actions_adddup2", posix_spawn_file_actions_adddup2(&actions, 1, 0))
    }
  } else {
    try checkReturnedError(
      "posix_spawn_file_actions_adddup2",
      posix_spawn_file_actions_adddup2(&actions, request.output, 1))
    try checkReturnedError(
      "posix_spawn_file_actions_adddup2",
      posix_spawn_file_actions_adddup2(&actions, request.errorOutput ?? request.output, 2))
  }
  try checkReturnedError(
    "posix_spawn_file_actions_addclosefrom_np", posix_spawn_file_actions_addclosefrom_np(&actions, 3))

  var pid: pid_t = 0
  let argv = CStringArray(request.arguments)
  let envp = CStringArray(request.environment)
  let result = posix_spawn(&pid, request.path, &actions, &attributes, argv.pointers, envp.pointers)
  try checkReturnedError("posix_spawn", result)
  return pid
}

/// A NULL-terminated array of C strings that lives as long as this value.
final class CStringArray {
  private(set) var pointers: [UnsafeMutablePointer<CChar>?]

  init(_ strings: [String]) {
    pointers = strings.map { strdup($0) }
    pointers.append(nil)
  }

  deinit {
    for pointer in pointers { free(pointer) }
  }
}
