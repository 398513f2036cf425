import Foundation
import XCTest

@testable import ForgeCore

final class JSONValueTests: XCTestCase {
  private func parse(_ text: String) throws -> JSONValue { try JSONValue.parse(bytes(text)) }

  private func assertInvalid(
    _ text: String, at offset: Int? = nil, file: StaticString = #filePath, line: UInt = #line
  ) {
    do {
      let value = try JSONValue.parse(bytes(text))
      XCTFail("\(String(reflecting: text)) parsed as \(value)", file: file, line: line)
    } catch {
      if let offset { XCTAssertEqual(error.offset, offset, error.message, file: file, line: line) }
    }
  }

  func testScalars() throws {
    XCTAssertEqual(try parse("null"), .null)
    XCTAssertEqual(try parse("true"), .bool(true))
    XCTAssertEqual(try parse(" false "), .bool(false))
    XCTAssertEqual(try parse("0"), .number(0))
    XCTAssertEqual(try parse("-12.5e2"), .number(-1250))
    XCTAssertEqual(try parse("1E-2"), .number(0.01))
    XCTAssertEqual(try parse("\"hi\""), .string("hi"))
  }

  func testContainersKeepOrder() throws {
    let value = try parse(#" { "b" : [1, "x", null, {}, []], "a": {"c": true} } "#)
    XCTAssertEqual(
      value,
      .object([
        ("b", .array([.number(1), .string("x"), .null, .object([]), .array([])])),
        ("a", .object([("c", .bool(true))])),
      ]))
    XCTAssertNotEqual(value, try parse(#"{"a": {"c": true}, "b": [1, "x", null, {}, []]}"#), "order matters")
  }

  func testSubscriptTakesTheLastDuplicateKey() throws {
    let value = try parse(#"{"a": 1, "a": 2}"#)
    XCTAssertEqual(value["a"], .number(2))
    XCTAssertNil(value["b"])
    XCTAssertNil(JSONValue.array([])["a"])
  }

  func testAccessors() {
    XCTAssertEqual(JSONValue.string("s").string, "s")
    XCTAssertNil(JSONValue.number(1).string)
    XCTAssertEqual(JSONValue.number(2).number, 2)
    XCTAssertEqual(JSONValue.number(3).integer, 3)
    XCTAssertEqual(JSONValue.number(-3).integer, -3)
    XCTAssertNil(JSONValue.number(3.5).integer)
    XCTAssertNil(JSONValue.number(1e16).integer)
    XCTAssertNil(JSONValue.string("3").integer)
  }

  func testStringEscapes() throws {
    XCTAssertEqual(try parse(#""\" \\ \/ \b \f \n \r \t""#), .string("\" \\ / \u{8} \u{C} \n \r \t"))
    XCTAssertEqual(try parse(#""\u0041\u00e9\u263A""#), .string("Aé☺"))
    XCTAssertEqual(try parse(#""\ud83d\ude00""#), .string("😀"))
    XCTAssertEqual(try parse("\"raw é ☃\""), .string("raw é ☃"))
  }

  func testLoneSurrogatesBecomeReplacementCharacters() throws {
    XCTAssertEqual(try parse(#""\ud83d""#), .string("\u{FFFD}"))
    XCTAssertEqual(try parse(#""\ude00x""#), .string("\u{FFFD}x"))
    XCTAssertEqual(
      try parse(#""\ud83d\u0041""#), .string("\u{FFFD}A"), "the escape after a lone high surrogate is kept")
    XCTAssertEqual(try parse(#""\ud83d\ud83d\ude00""#), .string("\u{FFFD}😀"))
  }

  func testInvalidDocuments() {
    assertInvalid("", at: 0)
    assertInvalid("   ")
    assertInvalid("nul")
    assertInvalid("True")
    assertInvalid("01")
    assertInvalid("-")
    assertInvalid("+1")
    assertInvalid(".5")
    assertInvalid("1.")
    assertInvalid("1e")
    assertInvalid("1e+")
    assertInvalid("1e999")
    assertInvalid("NaN")
    assertInvalid("[1,]")
    assertInvalid("[1 2]")
    assertInvalid("{\"a\":1,}")
    assertInvalid("{\"a\" 1}")
    assertInvalid("{a:1}")
    assertInvalid("{\"a\":}")
    assertInvalid("[")
    assertInvalid("{\"a\":1")
    assertInvalid("\"open")
    assertInvalid("\"tab\there\"")
    assertInvalid("\"bad \\x escape\"")
    assertInvalid("\"short \\u12\"")
    assertInvalid("\"bad \\u12g4\"")
    assertInvalid("{} {}", at: 3)
    assertInvalid("1 2", at: 2)
  }

  func testNestingIsBounded() throws {
    _ = try parse(String(repeating: "[", count: 32) + String(repeating: "]", count: 32))
    assertInvalid(String(repeating: "[", count: 33) + String(repeating: "]", count: 33))
    assertInvalid(String(repeating: "{\"a\":", count: 10_000) + "1" + String(repeating: "}", count: 10_000))
  }

  func testRender() {
    let value = JSONValue.object([
      ("ok", .bool(true)), ("n", .number(3)), ("f", .number(1.5)), ("neg", .number(-2)), ("nil", .null),
      ("s", .string("a\"b\n")), ("list", .array([.number(1), .string("x")])), ("empty", .object([])),
    ])
    XCTAssertEqual(
      value.render(), #"{"ok":true,"n":3,"f":1.5,"neg":-2,"nil":null,"s":"a\"b\u000a","list":[1,"x"],"empty":{}}"#)
  }

  func testRenderParsesBackAndWithFoundation() throws {
    let value = JSONValue.object([
      ("text", .string("tab\t quote\" é 😀 \u{1}")), ("big", .number(1e20)), ("small", .number(0.001)),
      ("nested", .array([.object([("k", .array([]))]), .bool(false)])),
    ])
    let text = value.render()
    XCTAssertEqual(try JSONValue.parse(bytes(text)), value)
    let foundation = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    XCTAssertEqual(foundation["text"] as? String, "tab\t quote\" é 😀 \u{1}")
    XCTAssertEqual(foundation["big"] as? Double, 1e20)
    XCTAssertEqual(foundation["small"] as? Double, 0.001)
  }

  func testEquality() {
    XCTAssertEqual(JSONValue.number(1), .number(1.0))
    XCTAssertNotEqual(JSONValue.number(1), .string("1"))
    XCTAssertNotEqual(JSONValue.null, .bool(false))
    XCTAssertNotEqual(JSONValue.object([("a", .null)]), .object([("a", .null), ("b", .null)]))
    XCTAssertNotEqual(JSONValue.object([("a", .null)]), .object([("b", .null)]))
  }
}
