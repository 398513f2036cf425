import XCTest

@testable import ForgeCore

final class FormationTests: XCTestCase {
  private func procfile(_ names: [String]) -> Procfile {
    Procfile(path: "Procfile", entries: names.map { ProcessType(name: $0, command: "./\($0)") })
  }

  private func counts(_ formation: Formation) -> [String] { formation.counts.map { "\($0.name)=\($0.count)" } }

  func testParsesTypesInOrder() throws {
    let formation = try Formation.parse("web=2,worker=1,clock=0", source: "-m")
    XCTAssertEqual(counts(formation), ["web=2", "worker=1", "clock=0"])
    XCTAssertNil(formation.all)
  }

  func testBlanksAroundCommasAndEquals() throws {
    XCTAssertEqual(counts(try Formation.parse(" web = 2 ,\tworker=\t1 ", source: "-m")), ["web=2", "worker=1"])
  }

  func testAllSetsEveryTypeNotNamed() throws {
    let formation = try Formation.parse("all=3,web=1", source: "-m")
    XCTAssertEqual(formation.all, 3)
    XCTAssertEqual(counts(formation), ["web=1"])
    XCTAssertEqual(try formation.resolve(against: procfile(["worker", "web", "clock"]), source: "-m"), [3, 1, 3])
  }

  func testWithoutAllTypesNotNamedDoNotRun() throws {
    let formation = try Formation.parse("web=2", source: "-m")
    XCTAssertEqual(try formation.resolve(against: procfile(["worker", "web"]), source: "-m"), [0, 2])
  }

  func testDefaultRunsOneOfEach() throws {
    XCTAssertEqual(Formation.default.all, 1)
    XCTAssertEqual(try Formation.default.resolve(against: procfile(["a", "b"]), source: "-m"), [1, 1])
  }

  func testUnknownTypeIsAnErrorNamingTheKnownOnes() {
    let formation = try! Formation.parse("web=1,wrker=2", source: "FORGE_FORMATION")
    assertConfigError(
      try formation.resolve(against: procfile(["web", "worker"]), source: "FORGE_FORMATION"), line: 0,
      path: "FORGE_FORMATION", mentioning: "\"wrker\" (Procfile defines web, worker)")
  }

  func testItemWithoutEqualsIsAnError() {
    assertConfigError(try Formation.parse("web", source: "-m"), line: 0, path: "-m", mentioning: "TYPE=COUNT")
    assertConfigError(try Formation.parse("", source: "-m"), line: 0)
    assertConfigError(try Formation.parse("web=1,", source: "-m"), line: 0, mentioning: "got \"\"")
    assertConfigError(try Formation.parse("web=1,,worker=2", source: "-m"), line: 0)
  }

  func testInvalidTypeName() {
    for text in ["=1", "we b=1", "web.1=1", "wëb=1"] {
      assertConfigError(try Formation.parse(text, source: "-m"), line: 0, mentioning: "invalid process type", text)
    }
  }

  func testInvalidCount() {
    for text in ["web=", "web=-1", "web=+1", "web=1.5", "web=two", "web=1 2", "web=1234567", "web=0x1"] {
      assertConfigError(try Formation.parse(text, source: "-m"), line: 0, mentioning: "invalid count", text)
    }
  }

  func testLargestAcceptedCount() throws {
    XCTAssertEqual(counts(try Formation.parse("web=1000,worker=007", source: "-m")), ["web=1000", "worker=7"])
    assertConfigError(try Formation.parse("web=1001", source: "-m"), line: 0, mentioning: "invalid count", "web=1001")
  }

  func testTypeGivenTwiceIsAnError() {
    assertConfigError(try Formation.parse("web=1,worker=1,web=2", source: "-m"), line: 0, mentioning: "twice")
  }

  func testEquality() throws {
    XCTAssertEqual(try Formation.parse("web=1,all=2", source: "-m"), Formation(counts: [("web", 1)], all: 2))
    XCTAssertNotEqual(try Formation.parse("web=1", source: "-m"), Formation(counts: [("web", 2)], all: nil))
    XCTAssertNotEqual(try Formation.parse("web=1", source: "-m"), Formation(counts: [("web", 1)], all: 1))
  }

  func testPortPlan() {
    XCTAssertEqual(PortPlan.port(base: 5000, typeIndex: 0, instance: 1), 5000)
    XCTAssertEqual(PortPlan.port(base: 5000, typeIndex: 0, instance: 3), 5002)
    XCTAssertEqual(PortPlan.port(base: 5000, typeIndex: 2, instance: 1), 5200)
    XCTAssertEqual(PortPlan.port(base: 3000, typeIndex: 1, instance: 2), 3101)
  }

  func testTrimmingBlanks() {
    XCTAssertEqual(" \t a b \t ".trimmingBlanks(), "a b")
    XCTAssertEqual("   ".trimmingBlanks(), "")
    XCTAssertEqual("ä ".trimmingBlanks(), "ä")
  }
}
