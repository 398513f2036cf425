import Foundation
import XCTest

@testable import ForgeCore

final class ControlProtocolTests: XCTestCase {
  private func decode(_ text: String) throws(ControlError) -> ControlRequest { try ControlRequest.decode(bytes(text)) }

  private func assertRefused(
    _ text: String, mentioning: String, file: StaticString = #filePath, line: UInt = #line
  ) {
    do {
      let request = try decode(text)
      XCTFail("\(text) decoded as \(request)", file: file, line: line)
    } catch {
      XCTAssertTrue(
        error.message.contains(mentioning), "\"\(error.message)\" lacks \"\(mentioning)\"", file: file, line: line)
    }
  }

  func testSimpleCommands() throws {
    XCTAssertEqual(try decode(#"{"command":"ps"}"#), .ps)
    XCTAssertEqual(try decode(#"{"command":"stop"}"#), .stop)
    XCTAssertEqual(try decode(#" {"command": "env", "extra": 1}"# + "\n"), .env)
  }

  func testRestart() throws {
    XCTAssertEqual(try decode(#"{"command":"restart"}"#), .restart(target: nil, wait: false))
    XCTAssertEqual(try decode(#"{"command":"restart","target":null}"#), .restart(target: nil, wait: false))
    XCTAssertEqual(try decode(#"{"command":"restart","target":"web.2"}"#), .restart(target: "web.2", wait: false))
    assertRefused(#"{"command":"restart","target":2}"#, mentioning: "\"target\" must be a string")
  }

  func testScale() throws {
    let request = try decode(#"{"command":"scale","counts":{"web":4,"worker":0},"deltas":{"clock":-1}}"#)
    guard case .scale(let counts, let deltas, _) = request else { return XCTFail("\(request)") }
    XCTAssertEqual(counts.map { "\($0.0)=\($0.1)" }, ["web=4", "worker=0"])
    XCTAssertEqual(deltas.map { "\($0.0)=\($0.1)" }, ["clock=-1"])
    XCTAssertEqual(try decode(#"{"command":"scale"}"#), .scale(counts: [], deltas: [], wait: false))
    XCTAssertEqual(try decode(#"{"command":"scale","counts":null}"#), .scale(counts: [], deltas: [], wait: false))
    XCTAssertEqual(
      try decode(#"{"command":"scale","counts":{"web":2.0}}"#), .scale(counts: [("web", 2)], deltas: [], wait: false))
  }

  func testScaleCountsMustBeWholeNumbersInRange() {
    assertRefused(#"{"command":"scale","counts":{"web":1.5}}"#, mentioning: "\"counts\".web must be a whole number")
    assertRefused(#"{"command":"scale","counts":{"web":"2"}}"#, mentioning: "whole number")
    assertRefused(#"{"command":"scale","deltas":{"web":100001}}"#, mentioning: "\"deltas\".web")
    assertRefused(#"{"command":"scale","counts":[1]}"#, mentioning: "\"counts\" must be an object")
  }

  func testRefusals() {
    assertRefused("{\"command\":", mentioning: "invalid JSON at byte 11")
    assertRefused("", mentioning: "invalid JSON")
    assertRefused(#"["ps"]"#, mentioning: "expected a JSON object")
    assertRefused(#"{"cmd":"ps"}"#, mentioning: "missing \"command\"")
    assertRefused(#"{"command":1}"#, mentioning: "missing \"command\"")
    assertRefused(#"{"command":"reboot"}"#, mentioning: "unknown command \"reboot\"")
  }

  func testEncodedRequestsDecodeToThemselves() throws {
    let requests: [ControlRequest] = [
      .ps, .stop, .env, .restart(target: nil, wait: false), .restart(target: "web", wait: true),
      .wait(types: ["web"], timeout: 5), .wait(types: [], timeout: 60),
      .scale(counts: [("web", 3)], deltas: [("worker", -2)], wait: false), .scale(counts: [], deltas: [], wait: false),
    ]
    for request in requests {
      let text = request.encoded()
      XCTAssertFalse(text.contains("\n"), "one line")
      XCTAssertEqual(try ControlRequest.decode(bytes(text)), request, text)
      XCTAssertNotNil(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], text)
    }
    XCTAssertEqual(ControlRequest.ps.encoded(), #"{"command":"ps"}"#)
    XCTAssertEqual(
      ControlRequest.scale(counts: [("web", 3)], deltas: [], wait: false).encoded(),
      #"{"command":"scale","counts":{"web":3},"deltas":{}}"#)
  }

  func testRequestEquality() {
    XCTAssertNotEqual(ControlRequest.restart(target: "web", wait: false), .restart(target: nil, wait: false))
    XCTAssertNotEqual(
      ControlRequest.scale(counts: [("web", 1)], deltas: [], wait: false),
      .scale(counts: [], deltas: [("web", 1)], wait: false))
  }

  func testReplies() throws {
    let success = ControlReply.success([("release", .string("abc"))])
    XCTAssertEqual(success, #"{"ok":true,"release":"abc"}"# + "\n")
    let failure = ControlReply.failure("no \"such\" type")
    XCTAssertTrue(failure.hasSuffix("\n"))
    let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(failure.utf8)) as? [String: Any])
    XCTAssertEqual(object["ok"] as? Bool, false)
    XCTAssertEqual(object["error"] as? String, "no \"such\" type")
  }
}
