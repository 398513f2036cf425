import Foundation
import XCTest

@testable import ForgeCore

final class LineFormatterTests: XCTestCase {
  private let cyan = "\u{1B}[36m"
  private let reset = "\u{1B}[0m"

  private func render(
    _ line: [UInt8], name: String = "web.1", width: Int = 8, colour: [UInt8]? = nil, format: LogFormat = .text,
    timestamps: Bool = false
  ) -> String {
    var formatter = LineFormatter(format: format, timestamps: timestamps)
    formatter.updateClock()
    let out = OutputBuffer(capacity: 16)
    line.withUnsafeBytes { formatter.append($0, from: LogSource(name: name, width: width, colour: colour), to: out) }
    return String(decoding: out.bytes, as: UTF8.self)
  }

  private func object(_ rendered: String, file: StaticString = #filePath, line: UInt = #line) -> [String: Any] {
    XCTAssertTrue(rendered.hasSuffix("\n"), "ends the line", file: file, line: line)
    XCTAssertEqual(rendered.filter { $0 == "\n" }.count, 1, "exactly one line: \(rendered)", file: file, line: line)
    do {
      let value = try JSONSerialization.jsonObject(with: Data(rendered.utf8))
      return try XCTUnwrap(value as? [String: Any], file: file, line: line)
    } catch {
      XCTFail("invalid JSON \(rendered): \(error)", file: file, line: line)
      return [:]
    }
  }

  // Text.

  func testTextPadsTheNameToTheWidth() {
    XCTAssertEqual(render(bytes("hello")), "web.1    | hello\n")
    XCTAssertEqual(render(bytes("hello"), width: 5), "web.1 | hello\n")
    XCTAssertEqual(render(bytes("x"), name: "worker.10", width: 5), "worker.10 | x\n", "no padding past the width")
  }

  func testTextKeepsTheLineAsIs() {
    XCTAssertEqual(render(bytes("a \"quoted\"\ttab \u{1B}[1mbold")), "web.1    | a \"quoted\"\ttab \u{1B}[1mbold\n")
    XCTAssertEqual(render([]), "web.1    | \n")
  }

  func testTextWithColour() {
    XCTAssertEqual(
      render(bytes("hello"), colour: Palette.colour(forTypeIndex: 0)), "\(cyan)web.1    | \(reset)hello\n")
  }

  func testTextTimestampComesAfterTheColour() throws {
    let rendered = render(bytes("hi"), colour: Palette.colour(forTypeIndex: 0), timestamps: true)
    XCTAssertTrue(rendered.hasPrefix(cyan), rendered)
    let rest = Array(rendered.dropFirst(cyan.count))
    // "HH:MM:SS web.1    | " then the reset and the line.
    XCTAssertEqual(rest.count, 9 + 11 + reset.count + 3, rendered)
    for (i, character) in rest.prefix(8).enumerated() {
      XCTAssertTrue(i == 2 || i == 5 ? character == ":" : character.isNumber, rendered)
    }
    XCTAssertEqual(String(rest[8...]), " web.1    | \(reset)hi\n")
  }

  func testTextWithoutTimestampsIgnoresTheClock() {
    XCTAssertEqual(render(bytes("x"), timestamps: false), "web.1    | x\n")
  }

  func testMessageAppend() {
    var formatter = LineFormatter(format: .text, timestamps: false)
    formatter.updateClock()
    let out = OutputBuffer(capacity: 4)
    formatter.append(message: "started", from: LogSource(name: "forge", width: 5, colour: Palette.forge), to: out)
    XCTAssertEqual(String(decoding: out.bytes, as: UTF8.self), "\u{1B}[1mforge | \(reset)started\n")
  }

  // JSON.

  func testJSONLineShape() throws {
    let rendered = render(bytes("hello \"there\"\t\\"), format: .json)
    XCTAssertTrue(rendered.hasPrefix("{\"time\":\""), rendered)
    let fields = object(rendered)
    XCTAssertEqual(Set(fields.keys), ["time", "process", "line"])
    XCTAssertEqual(fields["process"] as? String, "web.1")
    XCTAssertEqual(fields["line"] as? String, "hello \"there\"\t\\")
    let time = try XCTUnwrap(fields["time"] as? String)
    XCTAssertEqual(time.count, 24, time)
    let pattern = try NSRegularExpression(pattern: #"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"#)
    XCTAssertNotNil(pattern.firstMatch(in: time, range: NSRange(location: 0, length: time.utf16.count)), time)
  }

  func testJSONIgnoresColourAndPadding() {
    let rendered = render(
      bytes("x"), width: 20, colour: Palette.colour(forTypeIndex: 1), format: .json, timestamps: true)
    XCTAssertFalse(rendered.contains("\u{1B}"), rendered)
    XCTAssertEqual(object(rendered)["process"] as? String, "web.1")
  }

  func testJSONEscapesControlAndInvalidBytes() {
    let fields = object(render([0x61, 0x0D, 0x1B, 0xFF, 0xC3, 0xA9], format: .json))
    XCTAssertEqual(fields["line"] as? String, "a\r\u{1B}\u{FFFD}é")
  }

  func testJSONEscapesTheName() {
    XCTAssertEqual(object(render(bytes("x"), name: "we\"b\\1", format: .json))["process"] as? String, "we\"b\\1")
  }

  func testRFC3339() {
    XCTAssertEqual(WallTime.rfc3339(0, 5), "1970-01-01T00:00:00.005Z")
    XCTAssertEqual(WallTime.rfc3339(1_795_000_000, 123), "2026-11-18T11:06:40.123Z")
    XCTAssertEqual(WallTime.rfc3339(951_782_400, 999), "2000-02-29T00:00:00.999Z")
  }

  func testWorstCaseExpansion() {
    XCTAssertEqual(LineFormatter(format: .text, timestamps: true).worstCaseExpansion, 1)
    XCTAssertEqual(LineFormatter(format: .json, timestamps: false).worstCaseExpansion, 6)
  }

  func testPaletteCyclesThroughTwelveColours() {
    XCTAssertEqual(Palette.colour(forTypeIndex: 0), bytes(cyan))
    XCTAssertEqual(Palette.colour(forTypeIndex: 12), Palette.colour(forTypeIndex: 0))
    XCTAssertNotEqual(Palette.colour(forTypeIndex: 1), Palette.colour(forTypeIndex: 0))
  }
}
