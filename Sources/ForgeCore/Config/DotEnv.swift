/// Parser for `.env` files, compatible with foreman, honcho and the dotenv libraries but strict:
/// a line it cannot read is an error with its line number, never skipped. The rules are in
/// README.md ("The .env file") and Tests/Fixtures/dotenv.json.
struct DotEnv {
  /// Values for `$VAR` that the file itself has not defined yet: earlier env files, then the
  /// process environment.
  typealias Lookup = (String) -> String?

  private var bytes: [UInt8]
  private var position = 0
  private var line = 1
  private let path: String
  private let outside: Lookup
  private var defined: [(key: String, value: String)] = []
  private var index: [String: Int] = [:]

  /// The assignments of one file in order; a later definition of a key replaces the earlier.
  static func parse(
    _ text: [UInt8], path: String, lookup: @escaping Lookup = { _ in nil }
  ) throws(ConfigError) -> [(key: String, value: String)] {
    var parser = DotEnv(bytes: normalizeLineEnds(text), path: path, outside: lookup)
    try parser.parseAll()
    return parser.defined
  }

  private init(bytes: [UInt8], path: String, outside: @escaping Lookup) {
    self.bytes = bytes
    self.path = path
    self.outside = outside
  }

  /// Drops a BOM and turns CRLF and lone CR into LF, so quoted values spanning lines and
  /// line numbers need to know only one terminator.
  private static func normalizeLineEnds(_ text: [UInt8]) -> [UInt8] {
    var start = 0
    if text.count >= 3 && text[0] == 0xEF && text[1] == 0xBB && text[2] == 0xBF { start = 3 }
    var out: [UInt8] = []
    out.reserveCapacity(text.count)
    var i = start
    while i < text.count {
      if text[i] == 0x0D {
        out.append(0x0A)
        if i + 1 < text.count && text[i + 1] == 0x0A { i += 1 }
      } else {
        out.append(text[i])
      }
      i += 1
    }
    return out
  }

  // MARK: - Lines

  private var atEnd: Bool { position >= bytes.count }
  private var current: UInt8 { bytes[position] }
  private var atLineEnd: Bool { atEnd || current == 0x0A }

  private mutating func skipBlanks() {
    while !atEnd && TextLines.isSpace(current) { position += 1 }
  }

  private mutating func skipRestOfLine() {
    while !atLineEnd { position += 1 }
    if !atEnd {
      position += 1
      line += 1
    }
  }

  private func error(_ message: String, line: Int? = nil) -> ConfigError {
    ConfigError(path: path, line: line ?? self.line, message: message)
  }

  private mutating func parseAll() throws(ConfigError) {
    while !atEnd {
      skipBlanks()
      if atLineEnd || current == UInt8(ascii: "#") {
        skipRestOfLine()
        continue
      }
      try parseAssignment()
    }
  }

  private mutating func parseAssignment() throws(ConfigError) {
    let exported = consumeExportPrefix()
    let keyStart = position
    if !atEnd && Self.isKeyStart(current) {
      position += 1
      while !atEnd && Self.isKeyByte(current) { position += 1 }
    }
    let key = TextLines.string(bytes[keyStart..<position])
    guard !key.isEmpty else { throw error("expected KEY=value, where KEY is letters, digits, '_', '.' or '-'") }
    skipBlanks()
    if exported && atLineEnd {
      skipRestOfLine()  // `export KEY` alone sets nothing
      return
    }
    if !atEnd && current == UInt8(ascii: "=") {
      position += 1
    } else if !atEnd && current == UInt8(ascii: ":")
      && (position + 1 >= bytes.count || TextLines.isSpace(bytes[position + 1]) || bytes[position + 1] == 0x0A)
    {
      position += 1
    } else {
      throw error("expected '=' after \(key)")
    }
    let value = try parseValue()
    define(key, value)
  }

  /// `export ` followed by a key; `export=1` and `export = 1` are the key "export".
  private mutating func consumeExportPrefix() -> Bool {
    let word = Array("export".utf8)
    guard position + word.count < bytes.count, Array(bytes[position..<position + word.count]) == word,
      TextLines.isSpace(bytes[position + word.count])
    else { return false }
    let start = position
    position += word.count
    skipBlanks()
    // No key after the blanks: "export" was the key, followed by blanks before its `=`.
    if atEnd || !Self.isKeyStart(current) {
      position = start
      return false
    }
    return true
  }

  private mutating func define(_ key: String, _ value: String) {
    if let existing = index[key] {
      defined[existing].value = value
    } else {
      index[key] = defined.count
      defined.append((key, value))
    }
  }

  private func lookup(_ name: String) -> String? {
    if let i = index[name] { return defined[i].value }
    return outside(name)
  }

  // MARK: - Values

  private mutating func parseValue() throws(ConfigError) -> String {
    let afterEquals = position
    skipBlanks()
    if !atEnd && current == UInt8(ascii: "'") {
      return try parseSingleQuoted()
    }
    if !atEnd && current == UInt8(ascii: "\"") {
      return try parseDoubleQuoted()
    }
    position = afterEquals
    return parseUnquoted()
  }

  /// Literal up to the closing quote, across lines; `\'` is kept as is and does not end it.
  private mutating func parseSingleQuoted() throws(ConfigError) -> String {
    let startLine = line
    position += 1
    var value: [UInt8] = []
    while true {
      guard !atEnd else { throw error("unterminated single-quoted value", line: startLine) }
      let byte = current
      if byte == UInt8(ascii: "\\") && position + 1 < bytes.count && bytes[position + 1] == UInt8(ascii: "'") {
        value.append(contentsOf: [byte, UInt8(ascii: "'")])
        position += 2
        continue
      }
      position += 1
      if byte == UInt8(ascii: "'") { break }
      if byte == 0x0A { line += 1 }
      value.append(byte)
    }
    try finishQuoted()
    return TextLines.string(value[...])
  }

  /// Escapes `\n \t \r \" \\ \$`, other backslashes kept; `$VAR` and `${VAR}` expand.
  private mutating func parseDoubleQuoted() throws(ConfigError) -> String {
    let startLine = line
    position += 1
    var value: [UInt8] = []
    while true {
      guard !atEnd else { throw error("unterminated double-quoted value", line: startLine) }
      let byte = current
      if byte == UInt8(ascii: "\"") {
        position += 1
        break
      }
      if byte == UInt8(ascii: "\\") && position + 1 < bytes.count {
        let next = bytes[position + 1]
        let escaped: UInt8? =
          switch next {
          case UInt8(ascii: "n"): 0x0A
          case UInt8(ascii: "t"): 0x09
          case UInt8(ascii: "r"): 0x0D
          case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "$"): next
          default: nil
          }
        if let escaped {
          value.append(escaped)
          position += 2
          continue
        }
      }
      if byte == UInt8(ascii: "$") {
        position = expand(at: position, into: &value)
        continue
      }
      if byte == 0x0A { line += 1 }
      value.append(byte)
      position += 1
    }
    try finishQuoted()
    return TextLines.string(value[...])
  }

  /// After a closing quote only blanks and a comment may follow.
  private mutating func finishQuoted() throws(ConfigError) {
    skipBlanks()
    if !atLineEnd && current != UInt8(ascii: "#") {
      throw error("unexpected text after the closing quote")
    }
    skipRestOfLine()
  }

  /// To the end of the line; `#` after a blank starts a comment; trimmed; `$VAR`, `${VAR}` and
  /// `${VAR:-default}` expand, while `\$` stays as written with no expansion.
  private mutating func parseUnquoted() -> String {
    let start = position
    while !atLineEnd {
      if current == UInt8(ascii: "#") && position > start && TextLines.isSpace(bytes[position - 1]) { break }
      position += 1
    }
    let raw = TextLines.trimmed(bytes[start..<position])
    skipRestOfLine()
    var value: [UInt8] = []
    var i = raw.startIndex
    while i < raw.endIndex {
      let byte = raw[i]
      if byte == UInt8(ascii: "\\") && i + 1 < raw.endIndex && raw[i + 1] == UInt8(ascii: "$") {
        value.append(contentsOf: [byte, UInt8(ascii: "$")])
        i += 2
      } else if byte == UInt8(ascii: "$") {
        i = expand(in: raw, at: i, into: &value)
      } else {
        value.append(byte)
        i += 1
      }
    }
    return TextLines.string(value[...])
  }

  /// In a double-quoted value: a `${…}` ends before the closing quote and the line end, so a
  /// `}` further on cannot pull the rest of the file into a `:-` default.
  private func expand(at start: Int, into value: inout [UInt8]) -> Int {
    var end = start + 1
    while end < bytes.count && bytes[end] != UInt8(ascii: "\"") && bytes[end] != 0x0A { end += 1 }
    return expand(in: bytes[..<end], at: start, into: &value)
  }

  /// Expands the reference starting at the `$` at `start`; returns the index after it. A `$`
  /// that starts no reference (`$ `, `$(`, an unclosed `${`) is kept literally.
  private func expand(in text: ArraySlice<UInt8>, at start: Int, into value: inout [UInt8]) -> Int {
    var i = start + 1
    if i < text.endIndex && text[i] == UInt8(ascii: "{") {
      guard let close = text[(i + 1)...].firstIndex(of: UInt8(ascii: "}")) else {
        value.append(UInt8(ascii: "$"))
        return start + 1
      }
      let inner = text[(i + 1)..<close]
      var name = inner
      var fallback: ArraySlice<UInt8>? = nil
      if let colon = Self.find(Array(":-".utf8), in: inner) {
        name = inner[inner.startIndex..<colon]
        fallback = inner[(colon + 2)...]
      }
      guard !name.isEmpty, name.allSatisfy(Self.isKeyByte) else {
        value.append(UInt8(ascii: "$"))
        return start + 1
      }
      let resolved = lookup(TextLines.string(name))
      if let fallback, resolved?.isEmpty ?? true {
        value.append(contentsOf: fallback)
      } else {
        value.append(contentsOf: (resolved ?? "").utf8)
      }
      return close + 1
    }
    while i < text.endIndex && Self.isKeyStart(text[i]) { i += 1 }
    if i == start + 1 {
      value.append(UInt8(ascii: "$"))
      return start + 1
    }
    value.append(contentsOf: (lookup(TextLines.string(text[(start + 1)..<i])) ?? "").utf8)
    return i
  }

  private static func find(_ needle: [UInt8], in haystack: ArraySlice<UInt8>) -> Int? {
    guard haystack.count >= needle.count else { return nil }
    var i = haystack.startIndex
    while i + needle.count <= haystack.endIndex {
      if haystack[i..<(i + needle.count)].elementsEqual(needle) { return i }
      i += 1
    }
    return nil
  }

  private static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }

  /// `[A-Za-z0-9_]`: a key's first byte and the bytes of an unbraced `$NAME`.
  static func isKeyStart(_ byte: UInt8) -> Bool {
    isDigit(byte) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || byte == UInt8(ascii: "_")
  }

  /// `[A-Za-z0-9_.-]`: the rest of a key.
  static func isKeyByte(_ byte: UInt8) -> Bool {
    isKeyStart(byte) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-")
  }
}
