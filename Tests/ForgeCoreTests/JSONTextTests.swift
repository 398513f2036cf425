import Foundation
import XCTest

@testable import ForgeCore

final class JSONTextTests: XCTestCase {
  /// The JSON string literal for `input`, quotes included.
  private func escape(_ input: [UInt8]) -> [UInt8] {
    let out = OutputBuffer(capacity: 8)
    JSONText.appendString(input, to: out)
    return Array(out.bytes)
  }

  private func text(_ input: [UInt8]) -> String { String(decoding: escape(input), as: UTF8.self) }

  /// What Foundation reads back from the literal; fails the test if it is not valid JSON.
  private func parsed(
    _ literal: [UInt8], file: StaticString = #filePath, line: UInt = #line
  ) -> String? {
    do {
      let value = try JSONSerialization.jsonObject(with: Data(literal), options: [.fragmentsAllowed])
      guard let string = value as? String else {
        XCTFail("not a string: \(value)", file: file, line: line)
        return nil
      }
      return string
    } catch {
      XCTFail("invalid JSON \(String(decoding: literal, as: UTF8.self)): \(error)", file: file, line: line)
      return nil
    }
  }

  private let fffd = "\u{FFFD}"

  func testPlainASCIIIsCopied() {
    XCTAssertEqual(text(bytes("hello, world: {}[]/'~")), "\"hello, world: {}[]/'~\"")
    XCTAssertEqual(text([]), "\"\"")
  }

  func testQuoteAndBackslashAreEscaped() {
    XCTAssertEqual(text(bytes("say \"hi\" \\ bye")), #""say \"hi\" \\ bye""#)
  }

  func testControlCharactersAsUnicodeEscapes() {
    XCTAssertEqual(text([0x00, 0x01, 0x09, 0x0A, 0x0D, 0x1B, 0x1F]), #""\u0000\u0001\u0009\u000a\u000d\u001b\u001f""#)
    XCTAssertEqual(text([0x20, 0x7F]), "\" \u{7F}\"", "space and DEL need no escape")
  }

  func testEveryASCIIByteRoundTrips() {
    let all = [UInt8](0..<0x80)
    XCTAssertEqual(parsed(escape(all)), String(decoding: all, as: UTF8.self))
  }

  func testValidMultibyteUTF8IsKept() {
    let sample = "é ☃ 日本語 😀 \u{10FFFF} \u{FEFF} \u{2028}"
    XCTAssertEqual(escape(bytes(sample)), [0x22] + bytes(sample) + [0x22])
    XCTAssertEqual(parsed(escape(bytes(sample))), sample)
  }

  func testBoundariesOfWellFormedUTF8AreKept() {
    // First and last scalars of each length, and the edges around the surrogates.
    for scalar: UInt32 in [0x80, 0x7FF, 0x800, 0xD7FF, 0xE000, 0xFFFF, 0x10000, 0x10FFFF] {
      let string = String(Character(Unicode.Scalar(scalar)!))
      XCTAssertEqual(escape(bytes(string)), [0x22] + bytes(string) + [0x22], String(scalar, radix: 16))
    }
  }

  func testInvalidBytesAreReplacedOneByOne() {
    let cases: [(String, [UInt8], String)] = [
      ("lone continuation", [0x61, 0x80, 0x62], "a\(fffd)b"),
      ("invalid lead bytes", [0xC0, 0xC1, 0xF5, 0xFF], String(repeating: fffd, count: 4)),
      ("overlong slash", [0xC0, 0xAF], fffd + fffd),
      ("overlong three-byte", [0xE0, 0x80, 0xAF], fffd + fffd + fffd),
      ("overlong four-byte", [0xF0, 0x80, 0x80, 0xAF], String(repeating: fffd, count: 4)),
      ("surrogate D800", [0xED, 0xA0, 0x80], fffd + fffd + fffd),
      ("surrogate DFFF", [0xED, 0xBF, 0xBF], fffd + fffd + fffd),
      ("above U+10FFFF", [0xF4, 0x90, 0x80, 0x80], String(repeating: fffd, count: 4)),
      ("truncated two-byte at end", [0x61, 0xC3], "a\(fffd)"),
      ("truncated three-byte at end", [0xE2, 0x82], fffd + fffd),
      ("truncated four-byte before ASCII", [0xF0, 0x9F, 0x98, 0x41], fffd + fffd + fffd + "A"),
      ("truncated then valid", [0xE2, 0x82, 0xC3, 0xA9], fffd + fffd + "é"),
      ("second byte not a continuation", [0xC3, 0x28], fffd + "("),
      ("third byte not a continuation", [0xE2, 0x82, 0x28], fffd + fffd + "("),
      ("invalid next to a quote", [0x22, 0xFF, 0x5C], "\"\(fffd)\\"),
    ]
    for (name, input, expected) in cases {
      XCTAssertEqual(parsed(escape(input)), expected, name)
      XCTAssertNotNil(String(validating: escape(input), as: UTF8.self), "output is valid UTF-8: \(name)")
    }
  }

  /// Independent of `validSequenceLength`: a byte starts a well-formed sequence when the
  /// standard library validates the bytes its lead announces.
  private func expected(_ input: [UInt8]) -> String {
    var out = ""
    var i = 0
    while i < input.count {
      let lead = input[i]
      let length: Int
      switch lead {
      case 0x00..<0x80: length = 1
      case 0xC0..<0xE0: length = 2
      case 0xE0..<0xF0: length = 3
      case 0xF0..<0xF8: length = 4
      default: length = 0
      }
      if length > 0, i + length <= input.count, let valid = String(validating: input[i..<i + length], as: UTF8.self) {
        out += valid
        i += length
      } else {
        out += fffd
        i += 1
      }
    }
    return out
  }

  func testRandomBytesAlwaysGiveValidJSON() {
    var random = SeededGenerator(seed: 7)
    let interesting: [UInt8] = [
      0x00, 0x0A, 0x22, 0x5C, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC2,
      0xDF, 0xE0, 0xE1, 0xED, 0xEF, 0xF0, 0xF1, 0xF4, 0xF5, 0xFF,
    ]
    for _ in 0..<3000 {
      let length = Int.random(in: 0...8, using: &random)
      let input = (0..<length).map { _ in
        Bool.random(using: &random)
          ? interesting.randomElement(using: &random)! : UInt8.random(in: 0...255, using: &random)
      }
      let literal = escape(input)
      XCTAssertEqual(parsed(literal), expected(input), "input \(input)")
    }
  }

  func testEscapedString() {
    XCTAssertEqual(String(decoding: JSONText.escaped("a\"b\n"), as: UTF8.self), #""a\"b\u000a""#)
  }

  func testLongInputGrowsTheBuffer() {
    let input = [UInt8](repeating: 0x01, count: 10_000)
    let literal = escape(input)
    XCTAssertEqual(literal.count, 2 + 6 * 10_000)
    XCTAssertEqual(parsed(literal)?.unicodeScalars.count, 10_000)
  }
}
