/// One line of a Procfile: a process type and the command `/bin/sh -c` runs for it.
struct ProcessType: Equatable, Sendable {
  let name: String
  let command: String
}

/// A parsed Procfile. Entry order is kept: it decides colours and PORT offsets.
///
/// Grammar (foreman and honcho compatible, but strict; see Tests/Fixtures/procfile.json):
/// lines end with LF, CRLF or CR; a trailing backslash joins the next line; blank and `#`
/// lines are skipped; every other line is `name:` then the command, where the name is
/// `[A-Za-z0-9_-]{1,63}` with no space before the colon.
struct Procfile: Equatable, Sendable {
  static let maximumNameLength = 63

  let path: String
  let entries: [ProcessType]

  var names: [String] { entries.map(\.name) }

  func index(of name: String) -> Int? { entries.firstIndex { $0.name == name } }

  func entry(named name: String) -> ProcessType? { entries.first { $0.name == name } }

  static func parse(_ bytes: [UInt8], path: String) throws(ConfigError) -> Procfile {
    var entries: [ProcessType] = []
    var firstLine: [String: Int] = [:]
    for logical in joinContinuations(TextLines.split(bytes)) {
      let line = TextLines.trimmed(logical.bytes[...])
      if line.isEmpty || line.first == UInt8(ascii: "#") { continue }
      let entry = try parseEntry(line, path: path, line: logical.number)
      if let earlier = firstLine[entry.name] {
        throw ConfigError(
          path: path, line: logical.number,
          message: "duplicate process type \"\(entry.name)\" (first defined on line \(earlier))")
      }
      firstLine[entry.name] = logical.number
      entries.append(entry)
    }
    if entries.isEmpty {
      throw ConfigError(path: path, line: 0, message: "no process types defined")
    }
    return Procfile(path: path, entries: entries)
  }

  /// A line ending in a backslash continues on the next: both are removed. The logical line
  /// is numbered by its first physical line.
  private static func joinContinuations(
    _ lines: [(number: Int, bytes: ArraySlice<UInt8>)]
  ) -> [(number: Int, bytes: [UInt8])] {
    var joined: [(Int, [UInt8])] = []
    var pending: (Int, [UInt8])? = nil
    for (number, bytes) in lines {
      var current = pending ?? (number, [])
      current.1.append(contentsOf: bytes)
      if current.1.last == UInt8(ascii: "\\") {
        current.1.removeLast()
        pending = current
      } else {
        joined.append(current)
        pending = nil
      }
    }
    if let pending { joined.append(pending) }
    return joined
  }

  private static func parseEntry(
    _ line: ArraySlice<UInt8>, path: String, line number: Int
  ) throws(ConfigError) -> ProcessType {
    var end = line.startIndex
    while end < line.endIndex && isNameByte(line[end]) { end += 1 }
    guard end > line.startIndex, end < line.endIndex, line[end] == UInt8(ascii: ":") else {
      throw ConfigError(
        path: path, line: number,
        message: "expected \"name: command\" with a name of letters, digits, '_' or '-'")
    }
    let name = TextLines.string(line[line.startIndex..<end])
    guard name.utf8.count <= maximumNameLength else {
      throw ConfigError(
        path: path, line: number,
        message: "process type name \"\(name)\" is longer than \(maximumNameLength) characters")
    }
    let command = TextLines.trimmed(line[(end + 1)...])
    guard !command.isEmpty else {
      throw ConfigError(path: path, line: number, message: "empty command for \"\(name)\"")
    }
    return ProcessType(name: name, command: TextLines.string(command))
  }

  static func isNameByte(_ byte: UInt8) -> Bool {
    (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
      || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
  }
}
