/// Splits configuration text into lines the way both parsers want: a leading UTF-8 BOM is
/// dropped and CRLF, lone CR and LF all end a line. Byte-based, because Swift's String treats
/// "\r\n" as one Character.
struct TextLines {
  /// Each line's bytes, without its terminator, and its 1-based number.
  static func split(_ bytes: [UInt8]) -> [(number: Int, bytes: ArraySlice<UInt8>)] {
    var start = 0
    if bytes.count >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF { start = 3 }
    var lines: [(Int, ArraySlice<UInt8>)] = []
    var lineStart = start
    var i = start
    var number = 1
    while i < bytes.count {
      let byte = bytes[i]
      if byte == 0x0A || byte == 0x0D {
        lines.append((number, bytes[lineStart..<i]))
        number += 1
        if byte == 0x0D && i + 1 < bytes.count && bytes[i + 1] == 0x0A { i += 1 }
        lineStart = i + 1
      }
      i += 1
    }
    if lineStart < bytes.count { lines.append((number, bytes[lineStart..<bytes.count])) }
    return lines
  }

  static func isBlank(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 }

  static func trimmed(_ line: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
    var lower = line.startIndex
    var upper = line.endIndex
    while lower < upper && isSpace(line[lower]) { lower += 1 }
    while upper > lower && isSpace(line[upper - 1]) { upper -= 1 }
    return line[lower..<upper]
  }

  /// Spaces, tabs, and the other ASCII white space (vertical tab, form feed).
  static func isSpace(_ byte: UInt8) -> Bool {
    byte == 0x20 || byte == 0x09 || byte == 0x0B || byte == 0x0C
  }

  static func string(_ bytes: ArraySlice<UInt8>) -> String {
    String(decoding: bytes, as: UTF8.self)
  }
}
