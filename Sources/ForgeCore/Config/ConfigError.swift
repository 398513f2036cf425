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
}
