import XCTest

@testable import ForgeCore

final class ArgumentParserTests: XCTestCase {
  private let specs = Options.common + [Options.port, Options.envOverride, Options.color, Options.noColor]

  private func parse(_ arguments: [String], stop: Bool = false) throws(UsageError) -> ParsedArguments {
    try ArgumentParser.parse(arguments, specs: specs, command: "start", stopAtFirstPositional: stop)
  }

  private func assertUsageError(
    _ arguments: [String], _ message: String, file: StaticString = #filePath, line: UInt = #line
  ) {
    do {
      let parsed = try parse(arguments)
      XCTFail("\(arguments) parsed as \(parsed.options.values) \(parsed.positionals)", file: file, line: line)
    } catch {
      XCTAssertEqual(error, UsageError(message, command: "start"), file: file, line: line)
    }
  }

  func testLongOptionWithSeparateValue() throws {
    let parsed = try parse(["--procfile", "Procfile.dev", "--port", "6000"])
    XCTAssertEqual(parsed.options.last("procfile"), "Procfile.dev")
    XCTAssertEqual(parsed.options.last("port"), "6000")
    XCTAssertEqual(parsed.positionals, [])
  }

  func testLongOptionWithEquals() throws {
    let parsed = try parse(["--env=a.env,b.env", "--procfile=", "--root=x=y"])
    XCTAssertEqual(parsed.options.last("env"), "a.env,b.env")
    XCTAssertEqual(parsed.options.last("procfile"), "", "an empty attached value is a value")
    XCTAssertEqual(parsed.options.last("root"), "x=y", "only the first = separates")
  }

  func testShortOptions() throws {
    let parsed = try parse(["-f", "P", "-eX.env", "-p5000"])
    XCTAssertEqual(parsed.options.last("procfile"), "P")
    XCTAssertEqual(parsed.options.last("env"), "X.env")
    XCTAssertEqual(parsed.options.last("port"), "5000")
  }

  func testShortFlagsCombineWithAValueLast() throws {
    let parsed = try parse(["-hfP"])
    XCTAssertTrue(parsed.options.has("help"))
    XCTAssertEqual(parsed.options.last("procfile"), "P")
    let separate = try parse(["-hf", "Q"])
    XCTAssertEqual(separate.options.last("procfile"), "Q")
  }

  func testFlagsHaveEmptyValues() throws {
    let parsed = try parse(["--env-override", "--no-color", "-h"])
    XCTAssertEqual(parsed.options.values["env-override"], [""])
    XCTAssertTrue(parsed.options.has("no-color"))
    XCTAssertTrue(parsed.options.has("help"))
    XCTAssertFalse(parsed.options.has("color"))
  }

  func testRepeatedOptionsKeepEveryValue() throws {
    XCTAssertEqual(try parse(["-e", "a", "--env", "b", "-ec"]).options.all("env"), ["a", "b", "c"])
  }

  func testValueMayLookLikeAnOption() throws {
    XCTAssertEqual(try parse(["--procfile", "--port"]).options.last("procfile"), "--port")
    XCTAssertEqual(try parse(["-f", "-"]).options.last("procfile"), "-")
  }

  func testPositionalsAnywhere() throws {
    let parsed = try parse(["web", "-p", "1", "worker", "-"])
    XCTAssertEqual(parsed.positionals, ["web", "worker", "-"])
    XCTAssertEqual(parsed.options.last("port"), "1")
  }

  func testDoubleDashEndsOptions() throws {
    let parsed = try parse(["-p", "1", "--", "-f", "--port", "x"])
    XCTAssertEqual(parsed.positionals, ["-f", "--port", "x"])
    XCTAssertFalse(parsed.options.has("procfile"))
    XCTAssertEqual(try parse(["--"]).positionals, [])
  }

  func testStopAtFirstPositional() throws {
    let parsed = try parse(["-e", "x.env", "rake", "db:migrate", "-f", "--", "--port"], stop: true)
    XCTAssertEqual(parsed.options.last("env"), "x.env")
    XCTAssertEqual(parsed.positionals, ["rake", "db:migrate", "-f", "--", "--port"])
    XCTAssertFalse(parsed.options.has("procfile"))
    XCTAssertFalse(parsed.options.has("port"))
    let withoutStop = try parse(["rake", "-p", "1"])
    XCTAssertEqual(withoutStop.positionals, ["rake"], "without it options after a positional are options")
  }

  func testUnknownOptions() {
    assertUsageError(["--frobnicate"], "unknown option --frobnicate")
    assertUsageError(["--frob=1"], "unknown option --frob")
    assertUsageError(["-z"], "unknown option -z")
    assertUsageError(["-hz"], "unknown option -z")
    assertUsageError(["-1"], "unknown option -1")
    assertUsageError(["--timeout", "5"], "unknown option --timeout")
  }

  func testMissingValues() {
    assertUsageError(["--procfile"], "option --procfile needs a value (FILE)")
    assertUsageError(["-e"], "option --env needs a value (FILES)")
    assertUsageError(["-p", "1", "-hp"], "option --port needs a value (PORT)")
  }

  func testFlagGivenAValue() {
    assertUsageError(["--env-override=yes"], "option --env-override takes no value")
    assertUsageError(["--help="], "option --help takes no value")
  }

  func testOptionSpec() {
    XCTAssertTrue(Options.port.takesValue)
    XCTAssertEqual(Options.port.placeholder, "PORT")
    XCTAssertEqual(Options.port.short, "p")
    XCTAssertFalse(Options.envOverride.takesValue)
    XCTAssertNil(Options.envOverride.short)
  }

  func testShortLettersAreUnique() {
    let all =
      Options.common + Options.output + Options.supervision
      + [
        Options.formation, Options.concurrency, Options.port, Options.timeout, Options.envOverride, Options.tty,
        Options.socket, Options.json, Options.fresh, Options.app, Options.user, Options.image, Options.expose,
      ]
    let shorts = all.compactMap(\.short)
    XCTAssertEqual(shorts.count, Set(shorts).count, "\(shorts)")
    XCTAssertEqual(all.map(\.long).count, Set(all.map(\.long)).count)
  }
}
