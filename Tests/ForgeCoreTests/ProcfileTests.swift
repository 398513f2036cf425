import XCTest

@testable import ForgeCore

final class ProcfileTests: XCTestCase {
  private func parse(_ text: String) throws -> [[String]] {
    try Procfile.parse(bytes(text), path: "Procfile").entries.map { [$0.name, $0.command] }
  }

  func testEntriesKeepFileOrderAndLookups() throws {
    let procfile = try Procfile.parse(bytes("web: ./web\nworker: ./worker\nclock: ./clock\n"), path: "app/Procfile")
    XCTAssertEqual(procfile.path, "app/Procfile")
    XCTAssertEqual(procfile.names, ["web", "worker", "clock"])
    XCTAssertEqual(procfile.index(of: "clock"), 2)
    XCTAssertNil(procfile.index(of: "missing"))
    XCTAssertEqual(procfile.entry(named: "worker"), ProcessType(name: "worker", command: "./worker"))
    XCTAssertNil(procfile.entry(named: "Worker"), "names are case-sensitive")
  }

  // Rule 1: BOM and line ends.

  func testLeadingBOMIsDropped() throws {
    XCTAssertEqual(try parse("\u{FEFF}web: ./web\n"), [["web", "./web"]])
  }

  func testBOMAfterTheStartIsNotDropped() {
    assertConfigError(try parse("web: ./web\n\u{FEFF}worker: ./worker\n"), line: 2)
  }

  func testCRLFAndLoneCREndLines() throws {
    XCTAssertEqual(try parse("a: 1\r\nb: 2\rc: 3\nd: 4"), [["a", "1"], ["b", "2"], ["c", "3"], ["d", "4"]])
  }

  func testLineNumbersCountEveryKindOfLineEnd() {
    // CRLF is one line end, lone CR another: the bad line is the fourth.
    assertConfigError(try parse("a: 1\r\nb: 2\r\rbad\n"), line: 4)
    assertConfigError(try parse("a: 1\r\n\r\n\r\nbad\r\n"), line: 4)
  }

  // Rule 2: continuations.

  func testBackslashContinuesOnTheNextLine() throws {
    XCTAssertEqual(try parse("web: ./web \\\n--port 5000\n"), [["web", "./web --port 5000"]])
    XCTAssertEqual(try parse("web: a\\\r\nb\\\rc\n"), [["web", "abc"]], "continuations over CRLF and CR")
  }

  func testContinuedLineIsNumberedByItsFirstLine() {
    assertConfigError(try parse("web: ./web\nbad \\\nline\n"), line: 2)
    let error = assertConfigError(try parse("web: one \\\n two\nweb: three\n"), line: 3)
    XCTAssertTrue(
      error?.message.contains("line 1") ?? false, "the first definition is named: \(String(describing: error))")
  }

  func testContinuationAtEndOfFile() throws {
    XCTAssertEqual(try parse("web: ./web \\"), [["web", "./web"]])
  }

  func testBackslashFollowedBySpacesIsNotAContinuation() throws {
    XCTAssertEqual(try parse("web: ./web \\  \nworker: ./worker\n"), [["web", "./web \\"], ["worker", "./worker"]])
  }

  func testBackslashInsideACommandIsKept() throws {
    XCTAssertEqual(try parse("web: printf 'a\\tb'\n"), [["web", "printf 'a\\tb'"]])
  }

  // Rule 3: trimming, blank lines and comments.

  func testLinesAreTrimmedAndBlankOrCommentLinesSkipped() throws {
    XCTAssertEqual(
      try parse("\n \t \n# web: old\n   # indented comment\n \t web: ./web \t \n\n"), [["web", "./web"]])
  }

  // Rule 4: entry syntax.

  func testNameCharacters() throws {
    XCTAssertEqual(try parse("a-b_C9: x\n_: y\n9: z\n"), [["a-b_C9", "x"], ["_", "y"], ["9", "z"]])
    for bad in ["web.1: x", "web/x: x", "my web: x", "wëb: x", "+web: x", "web@h: x", "web$: x"] {
      assertConfigError(try parse(bad + "\n"), line: 1, bad)
    }
  }

  func testNameOfSixtyThreeCharactersIsAcceptedAndSixtyFourIsNot() throws {
    let name63 = String(repeating: "n", count: 63)
    XCTAssertEqual(try parse("\(name63): x\n"), [[name63, "x"]])
    assertConfigError(try parse("web: x\n\(name63)n: x\n"), line: 2, mentioning: "63")
  }

  func testNoSpaceBeforeTheColon() {
    assertConfigError(try parse("web : ./web\n"), line: 1)
    assertConfigError(try parse("web\t: ./web\n"), line: 1)
  }

  func testEmptyNameIsAnError() {
    assertConfigError(try parse(": ./web\n"), line: 1)
  }

  func testCommandIsTheTrimmedRestOfTheLine() throws {
    XCTAssertEqual(try parse("web:./web\n"), [["web", "./web"]], "no space needed after the colon")
    XCTAssertEqual(try parse("web: \t  ./web\t-x\t \n"), [["web", "./web\t-x"]])
    XCTAssertEqual(
      try parse("web: echo a:b # not a comment; x=\"$Y\" 2>&1\n"), [["web", "echo a:b # not a comment; x=\"$Y\" 2>&1"]])
    XCTAssertEqual(try parse("web::x\n"), [["web", ":x"]])
  }

  // Rule 5: errors.

  func testLineThatIsNotAnEntry() {
    assertConfigError(try parse("web: ./web\njust text\n"), line: 2, path: "Procfile")
    assertConfigError(try parse("web=./web\n"), line: 1)
    assertConfigError(try parse("web\n"), line: 1)
  }

  func testEmptyCommand() {
    assertConfigError(try parse("web: ./web\nworker:\n"), line: 2, mentioning: "worker")
    assertConfigError(try parse("worker: \t \n"), line: 1)
  }

  func testDuplicateNameReportsTheSecondLine() {
    assertConfigError(try parse("web: a\nworker: b\n\nweb: c\n"), line: 4, mentioning: "line 1")
  }

  func testNamesAreCaseSensitiveSoNoDuplicate() throws {
    XCTAssertEqual(try parse("web: a\nWEB: b\n"), [["web", "a"], ["WEB", "b"]])
  }

  func testFileWithoutProcessesIsAWholeFileError() {
    assertConfigError(try parse(""), line: 0)
    assertConfigError(try parse("\u{FEFF}"), line: 0)
    assertConfigError(try parse("# only a comment\n\n   \n"), line: 0)
  }

  func testErrorDescriptionNamesPathAndLine() {
    XCTAssertEqual(ConfigError(path: "Procfile", line: 3, message: "bad").description, "Procfile:3: bad")
    XCTAssertEqual(ConfigError(path: "Procfile", line: 0, message: "bad").description, "Procfile: bad")
  }

  func testTextLinesSplit() {
    let lines = TextLines.split(bytes("\u{FEFF}a\r\nb\rc\n\nd"))
    XCTAssertEqual(lines.map(\.number), [1, 2, 3, 4, 5])
    XCTAssertEqual(lines.map { TextLines.string($0.bytes) }, ["a", "b", "c", "", "d"])
    XCTAssertEqual(TextLines.split(bytes("a\n")).count, 1, "a final line end starts no empty line")
    XCTAssertEqual(TextLines.split([]).count, 0)
  }
}
