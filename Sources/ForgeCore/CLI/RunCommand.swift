import CGlibcLinux
import Glibc

/// `forge run COMMAND [ARGS…]`: a one-off admin process with the formation's environment.
/// forge replaces itself with the command (execve), so the terminal, job control, stdin,
/// signals and the exit status are the command's own.
enum RunCommand {
  static let specs =
    Options.common + [Options.port, Options.envOverride, Options.fresh, Options.socket] + Options.secretHandling

  static func run(_ arguments: [String]) throws -> Int32 {
    guard
      let invocation = try Invocation.parse(arguments, command: "run", specs: specs, stopAtFirstPositional: true)
    else { return 0 }
    let words = invocation.parsed.positionals
    guard let first = words.first else { throw UsageError("run needs a command", command: "run") }
    let release = try ReleaseLookup.resolve(invocation)
    // The port a new type would get: deterministic, and never one the formation uses
    // (`forge run web` must not fight redis for the base port).
    let port = (invocation.settings.portOverride ?? release.basePort) + 100 * release.processTypes.count
    let environment = InstanceVariables.environment(
      release.environment, name: "run.1", port: port, release: release.releaseID)

    let argv: [String]
    if let entry = release.processTypes.first(where: { $0.name == first }) {
      // A Procfile type (`release`, `migrate`): its command, extra arguments appended.
      let extra = words.dropFirst().map(ShellQuote.quote)
      argv = ["/bin/sh", "-c", ([entry.command] + extra).joined(separator: " ")]
    } else if words.count == 1 && needsShell(first) {
      argv = ["/bin/sh", "-c", first]
    } else {
      argv = words
    }
    _ = chdir(invocation.settings.root)
    let program = try locate(argv[0], path: environment.last { $0.hasPrefix("PATH=") }.map { String($0.dropFirst(5)) })
    restoreSignalState()
    let args = CStringArray(argv)
    let envp = CStringArray(environment)
    execve(program, args.pointers, envp.pointers)
    let code = cglibc_errno()
    throw Exit(
      code == ENOENT ? ExitCode.commandNotFound : ExitCode.commandNotExecutable,
      "forge: \(argv[0]): \(String(cString: strerror(code)))")
  }

  /// Shell syntax or spaces in a single word: run it through /bin/sh -c.
  static func needsShell(_ word: String) -> Bool {
    word.utf8.contains { " \t\n|&;<>()$`\\\"'*?[]#~=%{}!".utf8.contains($0) }
  }

  /// The program's path, searched in the command's PATH as execvp would.
  static func locate(_ name: String, path: String?) throws -> String {
    if name.contains("/") {
      try checkExecutable(name, name)
      return name
    }
    var denied: String? = nil
    for directory in (path ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":", omittingEmptySubsequences: false) {
      let candidate = Path.join(directory.isEmpty ? "." : String(directory), name)
      if Files.isDirectory(candidate) || access(candidate, F_OK) != 0 { continue }
      if access(candidate, X_OK) == 0 { return candidate }
      denied = candidate
    }
    if let denied { throw Exit(ExitCode.commandNotExecutable, "forge: permission denied: \(denied)") }
    throw Exit(ExitCode.commandNotFound, "forge: command not found: \(name)")
  }

  private static func checkExecutable(_ path: String, _ name: String) throws {
    if access(path, F_OK) != 0 { throw Exit(ExitCode.commandNotFound, "forge: command not found: \(name)") }
    if Files.isDirectory(path) || access(path, X_OK) != 0 {
      throw Exit(ExitCode.commandNotExecutable, "forge: permission denied: \(name)")
    }
  }

  /// The command must start as if run directly: nothing blocked, SIGPIPE at its default.
  private static func restoreSignalState() {
    var empty = sigset_t()
    sigemptyset(&empty)
    _ = pthread_sigmask(SIG_SETMASK, &empty, nil)
    _ = Glibc.signal(SIGPIPE, SIG_DFL)
  }
}
