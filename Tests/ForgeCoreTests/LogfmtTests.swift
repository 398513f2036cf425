import XCTest

@testable import ForgeCore

/// The text form of `forge events`: values quoted as logfmt does, so a line splits back into
/// the pairs it was made of.
final class LogfmtTests: XCTestCase {
  /// Value in, value as written (raw strings: a backslash is a backslash).
  private let cases: [(value: String, written: String, why: String)] = [
    ("143", "143", "plain"),
    ("exec:./check.sh", "exec:./check.sh", "plain"),
    (#"C:\dir"#, #"C:\dir"#, "a backslash alone is unambiguous"),
    ("exited with code 3", #""exited with code 3""#, "a space"),
    ("web=3", #""web=3""#, "an ="),
    ("web=3 worker=1", #""web=3 worker=1""#, "the text form of formation"),
    ("", #""""#, "empty"),
    (#"said "no""#, #""said \"no\"""#, "quotes escaped"),
    (#"a\b "c""#, #""a\\b \"c\"""#, "inside quotes a backslash is escaped too"),
    ("one\ntwo\r\tthree", #""one\ntwo\r\tthree""#, "an event stays one line"),
    ("release a → b", #""release a → b""#, "non-ASCII kept as it is"),
  ]

  func testValuesAreQuotedWhenASpaceEqualsQuoteOrControlCharacterWouldBreakThePair() {
    for (value, written, why) in cases {
      XCTAssertEqual(Logfmt.pair("key", value), "key=" + written, why)
    }
  }
}
