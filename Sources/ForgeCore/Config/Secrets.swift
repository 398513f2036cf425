/// Secrets by reference: a directory of files (`--secrets DIR`, or systemd's
/// `$CREDENTIALS_DIRECTORY`), `X_FILE=/path` references (`--file-refs`), and which values are
/// secret, to keep out of the log (`--redact PATTERNS`, values from files).
struct SecretSettings: Equatable, Sendable {
  static let defaultPatterns = ["*PASSWORD*", "*SECRET*", "*TOKEN*", "*_KEY", "*CREDENTIALS*"]
  static let maximumSize = 64 * 1024
  /// Shorter values are not redacted: replacing every "abc" in the log would hide more than it
  /// protects, and such a value is no secret anyway.
  static let shortest = 6

  var directory: String?
  var directorySource = "--secrets"
  var fileReferences = false
  var patterns = SecretSettings.defaultPatterns
  var redact = true

  /// Whether a key's value is secret by its name (case ignored).
  func isSecretName(_ key: String) -> Bool {
    let upper = key.uppercased()
    return patterns.contains { Glob.matchText($0.uppercased(), upper) }
  }

  static func isValidKey(_ key: String) -> Bool {
    guard let first = key.utf8.first, first == UInt8(ascii: "_") || isLetter(first) else { return false }
    return key.utf8.allSatisfy { $0 == UInt8(ascii: "_") || isLetter($0) || ($0 >= 48 && $0 <= 57) }
  }

  private static func isLetter(_ byte: UInt8) -> Bool {
    (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122)
  }

  /// A secret file's value: its bytes with one trailing newline ("\n" or "\r\n") removed. The
  /// 64 KiB limit is the value's, so a 64 KiB value written by `echo` still fits.
  static func value(of bytes: [UInt8], path: String) throws(ConfigError) -> String {
    var text = bytes
    if text.last == 0x0A {
      text.removeLast()
      if text.last == 0x0D { text.removeLast() }
    }
    guard text.count <= maximumSize else {
      throw ConfigError(path: path, line: 0, message: "a secret of \(text.count) bytes, above the 64 KiB limit")
    }
    return String(decoding: text, as: UTF8.self)
  }
}

extension Glob {
  /// One whole string against a pattern of `*` and `?` (no path segments): `*_KEY`.
  static func matchText(_ pattern: String, _ text: String) -> Bool {
    let p = Array(pattern.utf8)
    let t = Array(text.utf8)
    var pi = 0
    var ti = 0
    var star = -1
    var mark = 0
    while ti < t.count {
      if pi < p.count && (p[pi] == UInt8(ascii: "?") || p[pi] == t[ti]) {
        pi += 1
        ti += 1
      } else if pi < p.count && p[pi] == UInt8(ascii: "*") {
        star = pi
        mark = ti
        pi += 1
      } else if star >= 0 {
        pi = star + 1
        mark += 1
        ti = mark
      } else {
        return false
      }
    }
    while pi < p.count && p[pi] == UInt8(ascii: "*") { pi += 1 }
    return pi == p.count
  }
}
