import XCTest

@testable import ForgeCore

final class ScaleArgumentsTests: XCTestCase {
  private func parse(_ arguments: [String]) throws -> (counts: [String], deltas: [String]) {
    let parsed = try ScaleArguments.parse(arguments)
    return (parsed.counts.map { "\($0.0)=\($0.1)" }, parsed.deltas.map { "\($0.0):\($0.1)" })
  }

  func testAbsoluteCounts() throws {
    let parsed = try parse(["web=4", "worker=0"])
    XCTAssertEqual(parsed.counts, ["web=4", "worker=0"])
    XCTAssertEqual(parsed.deltas, [])
  }

  func testRelativeCounts() throws {
    let parsed = try parse(["web+1", "worker-2"])
    XCTAssertEqual(parsed.counts, [])
    XCTAssertEqual(parsed.deltas, ["web:1", "worker:-2"])
  }

  func testCommaListsAndMixedForms() throws {
    let parsed = try parse(["web=4, worker+2", "clock-1"])
    XCTAssertEqual(parsed.counts, ["web=4"])
    XCTAssertEqual(parsed.deltas, ["worker:2", "clock:-1"])
  }

  func testDashInTheNameBeforeADelta() throws {
    XCTAssertEqual(try parse(["foo-bar+3", "foo-bar-1", "web-2-1"]).deltas, ["foo-bar:3", "foo-bar:-1", "web-2:-1"])
  }

  func testNoArgumentsIsEmpty() throws {
    let parsed = try parse([])
    XCTAssertEqual(parsed.counts + parsed.deltas, [])
  }

  func testInvalidItems() {
    for item in [
      "web", "web=", "web=x", "web=-1", "web=1234567", "=3", "+1", "-1", "web+", "web+x", "we b=1",
      "web.1=1", "web+1234567", "", "web=1,",
    ] {
      assertConfigError(try ScaleArguments.parse([item]), line: 0, path: "scale", "item \(String(reflecting: item))")
    }
  }
}
