/// A small JSON reader for control requests and replies. Strict (RFC 8259), bounded nesting,
/// no Foundation. Objects keep their key order.
enum JSONValue: Equatable, Sendable {
  case null
  case bool(Bool)
  case number(Double)
  case string(String)
  case array([JSONValue])
  case object([(String, JSONValue)])

  static func == (a: JSONValue, b: JSONValue) -> Bool {
    switch (a, b) {
    case (.null, .null): return true
    case (.bool(let x), .bool(let y)): return x == y
    case (.number(let x), .number(let y)): return x == y
    case (.string(let x), .string(let y)): return x == y
    case (.array(let x), .array(let y)): return x == y
    case (.object(let x), .object(let y)):
      return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
    default: return false
    }
  }

  subscript(key: String) -> JSONValue? {
    guard case .object(let members) = self else { return nil }
    return members.last { $0.0 == key }?.1
  }

  var string: String? {
    if case .string(let s) = self { return s }
    return nil
  }

  var number: Double? {
    if case .number(let n) = self { return n }
    return nil
  }

  /// A number that is a whole number in Int range.
  var integer: Int? {
    guard let n = number, n.rounded() == n, abs(n) < 1e15 else { return nil }
    return Int(n)
  }

  struct ParseError: Error, Equatable {
    let offset: Int
    let message: String
  }

  static func parse(_ bytes: [UInt8]) throws(ParseError) -> JSONValue {
    var reader = JSONReader(bytes: bytes)
    let value = try reader.value(depth: 0)
    reader.skipSpace()
    guard reader.atEnd else { throw ParseError(offset: reader.position, message: "unexpected text after the value") }
    return value
  }

  /// Compact JSON text.
  func render() -> String {
    var out = ""
    render(into: &out)
    return out
  }

  func render(into out: inout String) {
    switch self {
    case .null: out += "null"
    case .bool(let b): out += b ? "true" : "false"
    case .number(let n):
      if n.rounded() == n && abs(n) < 1e15 { out += String(Int(n)) } else { out += String(n) }
    case .string(let s): out += String(decoding: JSONText.escaped(s), as: UTF8.self)
    case .array(let items):
      out += "["
      for (i, item) in items.enumerated() {
        if i > 0 { out += "," }
        item.render(into: &out)
      }
      out += "]"
    case .object(let members):
      out += "{"
      for (i, (key, value)) in members.enumerated() {
        if i > 0 { out += "," }
        out += String(decoding: JSONText.escaped(key), as: UTF8.self)
        out += ":"
        value.render(into: &out)
      }
      out += "}"
    }
  }
}

private struct JSONReader {
  static let maximumDepth = 32
  let bytes: [UInt8]
  var position = 0

  var atEnd: Bool { position >= bytes.count }

  mutating func skipSpace() {
    while !atEnd, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[position]) { position += 1 }
  }

  func fail(_ message: String) -> JSONValue.ParseError {
    JSONValue.ParseError(offset: position, message: message)
  }

  mutating func value(depth: Int) throws(JSONValue.ParseError) -> JSONValue {
    guard depth < Self.maximumDepth else { throw fail("nested too deeply") }
    skipSpace()
    guard !atEnd else { throw fail("expected a value") }
    switch bytes[position] {
    case UInt8(ascii: "{"): return try object(depth: depth)
    case UInt8(ascii: "["): return try array(depth: depth)
    case UInt8(ascii: "\""): return .string(try string())
    case UInt8(ascii: "t"):
      try literal("true")
      return .bool(true)
    case UInt8(ascii: "f"):
      try literal("false")
      return .bool(false)
    case UInt8(ascii: "n"):
      try literal("null")
      return .null
    default: return .number(try number())
    }
  }

  mutating func literal(_ word: String) throws(JSONValue.ParseError) {
    let expected = Array(word.utf8)
    guard position + expected.count <= bytes.count,
      Array(bytes[position..<position + expected.count]) == expected
    else { throw fail("expected \(word)") }
    position += expected.count
  }

  mutating func object(depth: Int) throws(JSONValue.ParseError) -> JSONValue {
    position += 1
    var members: [(String, JSONValue)] = []
    skipSpace()
    if !atEnd && bytes[position] == UInt8(ascii: "}") {
      position += 1
      return .object(members)
    }
    while true {
      skipSpace()
      guard !atEnd, bytes[position] == UInt8(ascii: "\"") else { throw fail("expected a key") }
      let key = try string()
      skipSpace()
      guard !atEnd, bytes[position] == UInt8(ascii: ":") else { throw fail("expected ':'") }
      position += 1
      members.append((key, try value(depth: depth + 1)))
      skipSpace()
      guard !atEnd else { throw fail("unterminated object") }
      if bytes[position] == UInt8(ascii: ",") {
        position += 1
        continue
      }
      guard bytes[position] == UInt8(ascii: "}") else { throw fail("expected ',' or '}'") }
      position += 1
      return .object(members)
    }
  }

  mutating func array(depth: Int) throws(JSONValue.ParseError) -> JSONValue {
    position += 1
    var items: [JSONValue] = []
    skipSpace()
    if !atEnd && bytes[position] == UInt8(ascii: "]") {
      position += 1
      return .array(items)
    }
    while true {
      items.append(try value(depth: depth + 1))
      skipSpace()
      guard !atEnd else { throw fail("unterminated array") }
      if bytes[position] == UInt8(ascii: ",") {
        position += 1
        continue
      }
      guard bytes[position] == UInt8(ascii: "]") else { throw fail("expected ',' or ']'") }
      position += 1
      return .array(items)
    }
  }

  mutating func number() throws(JSONValue.ParseError) -> Double {
    let start = position
    if !atEnd && bytes[position] == UInt8(ascii: "-") { position += 1 }
    let digitsStart = position
    while !atEnd && isDigit(bytes[position]) { position += 1 }
    guard position > digitsStart else { throw fail("expected a value") }
    if bytes[digitsStart] == UInt8(ascii: "0") && position - digitsStart > 1 { throw fail("leading zero") }
    if !atEnd && bytes[position] == UInt8(ascii: ".") {
      position += 1
      let fraction = position
      while !atEnd && isDigit(bytes[position]) { position += 1 }
      guard position > fraction else { throw fail("expected digits after '.'") }
    }
    if !atEnd && (bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E")) {
      position += 1
      if !atEnd && (bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-")) { position += 1 }
      let exponent = position
      while !atEnd && isDigit(bytes[position]) { position += 1 }
      guard position > exponent else { throw fail("expected exponent digits") }
    }
    guard let value = Double(String(decoding: bytes[start..<position], as: UTF8.self)), value.isFinite else {
      throw fail("number out of range")
    }
    return value
  }

  func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }

  mutating func string() throws(JSONValue.ParseError) -> String {
    position += 1
    var out: [UInt8] = []
    while true {
      guard !atEnd else { throw fail("unterminated string") }
      let byte = bytes[position]
      position += 1
      switch byte {
      case UInt8(ascii: "\""):
        return String(decoding: out, as: UTF8.self)
      case UInt8(ascii: "\\"):
        guard !atEnd else { throw fail("unterminated escape") }
        let escape = bytes[position]
        position += 1
        switch escape {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escape)
        case UInt8(ascii: "b"): out.append(0x08)
        case UInt8(ascii: "f"): out.append(0x0C)
        case UInt8(ascii: "n"): out.append(0x0A)
        case UInt8(ascii: "r"): out.append(0x0D)
        case UInt8(ascii: "t"): out.append(0x09)
        case UInt8(ascii: "u"): appendScalar(try unicodeEscape(), to: &out)
        default: throw fail("invalid escape")
        }
      case 0..<0x20:
        throw fail("control character in string")
      default:
        out.append(byte)
      }
    }
  }

  mutating func hex4() throws(JSONValue.ParseError) -> UInt32 {
    guard position + 4 <= bytes.count else { throw fail("short \\u escape") }
    var value: UInt32 = 0
    for _ in 0..<4 {
      let c = bytes[position]
      position += 1
      let digit: UInt32
      switch c {
      case 0x30...0x39: digit = UInt32(c - 0x30)
      case 0x41...0x46: digit = UInt32(c - 0x41 + 10)
      case 0x61...0x66: digit = UInt32(c - 0x61 + 10)
      default: throw fail("invalid \\u escape")
      }
      value = value << 4 | digit
    }
    return value
  }

  mutating func unicodeEscape() throws(JSONValue.ParseError) -> UInt32 {
    let first = try hex4()
    guard (0xD800...0xDBFF).contains(first) else {
      return (0xDC00...0xDFFF).contains(first) ? 0xFFFD : first
    }
    guard position + 6 <= bytes.count, bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u")
    else { return 0xFFFD }
    position += 2
    let second = try hex4()
    guard (0xDC00...0xDFFF).contains(second) else {
      // Not a pair: the lone high surrogate is replaced, the escape after it read on its own.
      position -= 6
      return 0xFFFD
    }
    return 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
  }

  func appendScalar(_ value: UInt32, to out: inout [UInt8]) {
    let scalar = Unicode.Scalar(value) ?? "\u{FFFD}"
    out.append(contentsOf: Array(String(Character(scalar)).utf8))
  }
}
