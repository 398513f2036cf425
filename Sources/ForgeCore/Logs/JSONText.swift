/// JSON string escaping for arbitrary bytes: `"` and `\` escaped, control characters as
/// `\u00XX`, and each byte that is not part of well-formed UTF-8 replaced by U+FFFD, so a
/// line is always kept and always valid JSON.
enum JSONText {
  private static let hex: [UInt8] = Array("0123456789abcdef".utf8)
  private static let replacement: [UInt8] = [0xEF, 0xBF, 0xBD]

  static func appendString(_ bytes: [UInt8], to out: OutputBuffer) {
    out.append(UInt8(ascii: "\""))
    bytes.withUnsafeBytes { appendEscaped($0, to: out) }
    out.append(UInt8(ascii: "\""))
  }

  static func escaped(_ text: String) -> [UInt8] {
    let out = OutputBuffer(capacity: 64)
    appendString(Array(text.utf8), to: out)
    return Array(out.bytes)
  }

  static func appendEscaped(_ bytes: UnsafeRawBufferPointer, to out: OutputBuffer) {
    // Worst case: six bytes out for one in.
    out.reserve(bytes.count * 6)
    var runStart = 0
    var i = 0
    let count = bytes.count
    while i < count {
      // Eight plain ASCII bytes at a time: most log text needs no escaping at all.
      if i + 8 <= count, !needsAttention(bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self)) {
        i += 8
        continue
      }
      let byte = bytes[i]
      if byte >= 0x20 && byte < 0x80 && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: "\\") {
        i += 1
        continue
      }
      if byte >= 0x80 {
        let length = validSequenceLength(bytes, at: i)
        if length > 0 {
          i += length
          continue
        }
      }
      out.append(UnsafeRawBufferPointer(rebasing: bytes[runStart..<i]))
      if byte >= 0x80 {
        out.append(replacement)
      } else if byte < 0x20 {
        out.append([UInt8(ascii: "\\"), UInt8(ascii: "u"), 0x30, 0x30, hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
      } else {
        out.append(UInt8(ascii: "\\"))
        out.append(byte)
      }
      i += 1
      runStart = i
    }
    out.append(UnsafeRawBufferPointer(rebasing: bytes[runStart..<count]))
  }

  /// Whether any of eight bytes is a control character, a quote, a backslash or non-ASCII
  /// (the classic SWAR zero-byte test, Hacker's Delight 6-1).
  @inline(__always)
  private static func needsAttention(_ word: UInt64) -> Bool {
    let ones: UInt64 = 0x0101_0101_0101_0101
    let highs: UInt64 = 0x8080_8080_8080_8080
    func hasZeroByte(_ v: UInt64) -> Bool { (v &- ones) & ~v & highs != 0 }
    let belowSpace = (word &- 0x2020_2020_2020_2020) & ~word & highs != 0
    return belowSpace || word & highs != 0 || hasZeroByte(word ^ 0x2222_2222_2222_2222)
      || hasZeroByte(word ^ 0x5C5C_5C5C_5C5C_5C5C)
  }

  /// Length of the well-formed UTF-8 sequence starting at `i` (Unicode table 3-7), 0 if
  /// the bytes there are ill-formed.
  static func validSequenceLength(_ bytes: UnsafeRawBufferPointer, at i: Int) -> Int {
    let lead = bytes[i]
    let length: Int
    var low: UInt8 = 0x80
    var high: UInt8 = 0xBF
    switch lead {
    case 0xC2...0xDF: length = 2
    case 0xE0: (length, low) = (3, 0xA0)
    case 0xE1...0xEC, 0xEE...0xEF: length = 3
    case 0xED: (length, high) = (3, 0x9F)
    case 0xF0: (length, low) = (4, 0x90)
    case 0xF1...0xF3: length = 4
    case 0xF4: (length, high) = (4, 0x8F)
    default: return 0
    }
    guard i + length <= bytes.count else { return 0 }
    let second = bytes[i + 1]
    guard second >= low && second <= high else { return 0 }
    for k in 2..<max(2, length) where bytes[i + k] & 0xC0 != 0x80 { return 0 }
    return length
  }
}
