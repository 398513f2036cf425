/// forge's own exit statuses (a formation's exit status is described in README.md).
enum ExitCode {
  static let success: Int32 = 0
  /// A runtime failure: no running forge, a socket in use, a system call that failed.
  static let failure: Int32 = 1
  /// Bad input: a usage error, or a Procfile, env file or option value forge cannot read.
  static let usage: Int32 = 2
  static let commandNotExecutable: Int32 = 126
  static let commandNotFound: Int32 = 127
}

/// Ends forge with `status` after a message on stderr.
struct Exit: Error {
  let status: Int32
  let message: String?

  init(_ status: Int32, _ message: String? = nil) {
    self.status = status
    self.message = message
  }

  static func config(_ error: ConfigError) -> Exit { Exit(ExitCode.usage, "forge: \(error)") }
}
