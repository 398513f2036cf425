import CGlibcLinux
import Glibc

/// `forge start --detach`: the formation runs in the background. forge starts itself again in
/// a session of its own, with stdout to `--log-file` (or nowhere: the ring only) and stderr on
/// a pipe back here; it reports there once the control socket listens and every process has
/// started (or is ready, with `--ready`). A start-up failure comes back on the caller's
/// terminal with its status: a detached forge never fails silently in the background.
extension StartCommand {
  /// Set in the background forge's environment by the one that started it.
  static let reportVariable = "FORGE_DETACHED_REPORT"
  static let readyWord = "READY "

  static func wantsDetach(_ invocation: Invocation) throws -> Bool {
    try Settings.flag("detach", invocation.parsed.options, invocation.settings.variables) ?? false
  }

  static func detach(_ invocation: Invocation, arguments: [String]) throws -> Int32 {
    Signal.unblockHandled()  // Ctrl-C while waiting ends this caller, not the background forge
    guard getpid() != 1 else {
      throw ConfigError(
        path: "--detach", line: 0, message: "PID 1 stays in the foreground (it is the container's init)")
    }
    let options = invocation.parsed.options
    var output = cglibc_open("/dev/null", O_WRONLY | O_CLOEXEC, 0)
    // A log file this start creates is removed again if the start fails with it still empty.
    var created: String? = nil
    if let file = Settings.lookup("log-file", options, invocation.settings.variables) {
      let path = Path.absolute(file.value, from: invocation.workingDirectory)
      if access(path, F_OK) != 0 { created = path }
      output = cglibc_open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
      guard output >= 0 else {
        throw ConfigError(
          path: file.source, line: 0, message: "cannot open \(path): \(String(cString: strerror(cglibc_errno())))")
      }
    }
    let sink = FileDescriptor(output)
    let report = try Pipe()
    // The caller's environment as it is (FORGE_DETACH included: the processes and the release
    // id see what a foreground start would); the report variable, which the background forge
    // takes out of its own environment, is what keeps it from detaching again.
    let environment = ProcessEnvironment.current().map { "\($0.key)=\($0.value)" } + ["\(reportVariable)=1"]
    let forwarded = arguments.filter { $0 != "-D" && $0 != "--detach" }
    let pid = try spawn(
      SpawnRequest(
        path: Files.currentExecutable(), arguments: [Files.currentExecutable(), "start"] + forwarded,
        environment: environment, output: sink.raw, errorOutput: report.write.raw))
    report.write.close()
    sink.close()
    var said: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
      var entry = pollfd(fd: report.read.raw, events: Int16(POLLIN), revents: 0)
      _ = poll(&entry, 1, -1)
      guard let count = try? report.read.read(into: &chunk) else { continue }
      if count == 0 { break }
      said += chunk[0..<count]
      let text = String(decoding: said, as: UTF8.self)
      if let line = text.split(separator: "\n").first(where: { $0.hasPrefix(readyWord) }) {
        let background = line.dropFirst(readyWord.count)
        writeRaw(1, "forge running in the background (pid \(background)); forge logs -f, forge stop\n")
        return ExitCode.success
      }
    }
    // It ended before it was up: what it said, and its status.
    writeRaw(2, String(decoding: said, as: UTF8.self))
    var info = stat()
    if let created, stat(created, &info) == 0, info.st_size == 0 { _ = unlink(created) }
    let status = waitForChild(pid)
    return status.map { $0.shellStatus == 0 ? ExitCode.failure : $0.shellStatus } ?? ExitCode.failure
  }
}
