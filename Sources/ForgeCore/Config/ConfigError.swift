/// A mistake in the user's input: a file, the 1-based line (0 for the whole file or for a
/// value that is not in a file) and what was expected. Reported as `forge: PATH:LINE: MESSAGE`
/// with exit status 2.
struct ConfigError: Error, Equatable, CustomStringConvertible {
  let path: String
  let line: Int
  let message: String

  var description: String {
    line > 0 ? "\(path):\(line): \(message)" : "\(path): \(message)"
  }

  /// The same error with every secret value in its message replaced by `[redacted:KEY]`: an
  /// error message is shown where the log is (a terminal, a CI log, journald).
  func redacting(_ secrets: [(key: String, value: String)]) -> ConfigError {
    let text = secrets.reduce(message) { $0.replacing($1.value, with: "[redacted:\($1.key)]") }
    return ConfigError(path: path, line: line, message: text)
  }
}
