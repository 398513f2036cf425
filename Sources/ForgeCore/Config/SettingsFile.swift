/// `.forge`: a project's settings as `FORGE_*` assignments in the `.env` grammar, committed
/// beside the Procfile (as `.foreman` and `.overmind.env` are). It ranks below the environment:
/// flags > environment > `.forge` > defaults. Anything but a known `FORGE_` variable is bad
/// input, so a typo never goes silently unused.
enum SettingsFile {
  static let name = ".forge"

  struct Entry {
    let key: String
    let value: String
    let line: Int
  }

  /// The file's assignments, each checked against `known` (every option's variable).
  static func parse(_ text: [UInt8], path: String, known: Set<String>) throws(ConfigError) -> [Entry] {
    let assignments = try DotEnv.parse(text, path: path)
    var entries: [Entry] = []
    for (key, value) in assignments {
      let line = lineNumber(of: key, in: text)
      entries.append(Entry(key: key, value: value, line: line))
      guard !known.contains(key) else { continue }
      if key.hasPrefix("FORGE_") {
        throw ConfigError(path: path, line: line, message: "unknown setting \(key)")
      }
      throw ConfigError(
        path: path, line: line,
        message: "expected a FORGE_ setting, got \(key) (the processes' variables belong in .env)")
    }
    return entries
  }

  /// The last line that assigns `key` (`KEY=`, `KEY: ` or `export KEY=`), whose value is the
  /// one used, for the error message.
  private static func lineNumber(of key: String, in text: [UInt8]) -> Int {
    var number = 0
    var found = 0
    for line in text.split(separator: 0x0A, omittingEmptySubsequences: false) {
      number += 1
      var words = String(decoding: line, as: UTF8.self).trimmingBlanks()
      if words.hasPrefix("export ") { words = String(words.dropFirst(7)).trimmingBlanks() }
      if words.hasPrefix(key) {
        let rest = words.dropFirst(key.count).trimmingBlanks()
        if rest.hasPrefix("=") || rest.hasPrefix(":") { found = number }
      }
    }
    return found
  }
}
