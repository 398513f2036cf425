import Foundation
import XCTest

/// The look of the log stream: timestamps, colours (and when they are on by default), JSON
/// lines, and pseudo-terminals for `--tty` types.
final class LogFormatTests: ForgeTestCase {
  private let escape = "\u{1B}"

  /// A formation that prints `hello` from web.1 and `hi` from worker.1 and ends by itself
  /// (status 0) when web.1 exits, which it does only once worker.1 has printed its line.
  private func helloProject() throws -> ForgeProject {
    try makeProject([
      "Procfile": """
      web: echo hello; while [ ! -e worker-up ]; do sleep 0.01; done
      worker: echo hi; touch worker-up; exec sleep 600

      """
    ])
  }

  /// Runs the hello formation to its end with `arguments` and returns forge.
  private func runHello(
    _ arguments: [String] = [], environment: [String: String] = [:], stdout: StdoutMode = .pipe,
    file: StaticString = #filePath, line: UInt = #line
  ) throws -> ForgeProcess {
    let project = try helloProject()
    let forge = try launch(["start"] + arguments, in: project, environment: environment, stdout: stdout)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript(), file: file, line: line)
    return forge
  }

  private func hasColour(_ forge: ForgeProcess) -> Bool { forge.stdout.text.contains(escape) }

  // MARK: - Timestamps

  func testTimestampPrefixesEveryLine() throws {
    let forge = try runHello(["--timestamp"])
    let lines = forge.stdout.lines
    XCTAssertFalse(lines.isEmpty)
    for line in lines {
      XCTAssertNotNil(
        line.range(of: #"^\d\d:\d\d:\d\d (forge   |web\.1   |worker\.1) \| "#, options: .regularExpression),
        "no timestamp: \(line)")
    }
    XCTAssertTrue(lines.contains { $0.hasSuffix(" web.1    | hello") }, forge.transcript())
  }

  func testNoTimestampOrColourOnAPipeByDefault() throws {
    let forge = try runHello()
    XCTAssertTrue(forge.stdout.lines.contains("web.1    | hello"), forge.transcript())
    XCTAssertFalse(hasColour(forge))
    XCTAssertTrue(
      forge.stdout.lines.allSatisfy { $0.range(of: #"^\d\d:\d\d:\d\d "#, options: .regularExpression) == nil })
  }

  // MARK: - Colour

  func testColorFlagColoursEachTypeAndForge() throws {
    let forge = try runHello(["--color"])
    let lines = forge.stdout.lines
    let reset = "\(escape)[0m"
    XCTAssertTrue(lines.contains("\(escape)[36mweb.1    | \(reset)hello"), forge.transcript())
    XCTAssertTrue(lines.contains("\(escape)[33mworker.1 | \(reset)hi"), forge.transcript())
    XCTAssertTrue(lines.contains { $0.hasPrefix("\(escape)[1mforge    | \(reset)release ") }, forge.transcript())
  }

  func testColorWithTimestampPutsTheStampInsideTheColour() throws {
    let forge = try runHello(["--color", "--timestamp"])
    XCTAssertTrue(
      forge.stdout.lines.contains {
        $0.range(of: #"^\x1B\[36m\d\d:\d\d:\d\d web\.1    \| \x1B\[0mhello$"#, options: .regularExpression) != nil
      }, forge.transcript())
  }

  func testTerminalGetsColourAndTimestampsByDefault() throws {
    let forge = try runHello(stdout: .terminal)
    XCTAssertTrue(
      forge.stdout.lines.contains {
        $0.range(of: #"^\x1B\[36m\d\d:\d\d:\d\d web\.1    \| \x1B\[0mhello$"#, options: .regularExpression) != nil
      }, forge.transcript())
  }

  func testNoColorOnTerminalDisablesColour() throws {
    let forge = try runHello(environment: ["NO_COLOR": "1"], stdout: .terminal)
    XCTAssertFalse(hasColour(forge), forge.transcript())
    XCTAssertTrue(
      forge.stdout.lines.contains {
        $0.range(of: #"^\d\d:\d\d:\d\d web\.1    \| hello$"#, options: .regularExpression) != nil
      },
      "timestamps stay on\n\(forge.transcript())")
  }

  func testEmptyNoColorDoesNotDisableColour() throws {
    let forge = try runHello(environment: ["NO_COLOR": ""], stdout: .terminal)
    XCTAssertTrue(hasColour(forge), forge.transcript())
  }

  func testDumbTerminalGetsNoColour() throws {
    let forge = try runHello(environment: ["TERM": "dumb"], stdout: .terminal)
    XCTAssertFalse(hasColour(forge), forge.transcript())
  }

  func testNoColorFlagOnTerminal() throws {
    let forge = try runHello(["--no-color", "--no-timestamp"], stdout: .terminal)
    XCTAssertFalse(hasColour(forge), forge.transcript())
    XCTAssertTrue(forge.stdout.lines.contains("web.1    | hello"), forge.transcript())
  }

  func testColorFlagWinsOverNoColor() throws {
    let forge = try runHello(["--color"], environment: ["NO_COLOR": "1"])
    XCTAssertTrue(hasColour(forge), forge.transcript())
  }

  func testForgeColorVariable() throws {
    XCTAssertTrue(hasColour(try runHello(environment: ["FORGE_COLOR": "1"])))
    XCTAssertFalse(hasColour(try runHello(environment: ["FORGE_COLOR": "false"], stdout: .terminal)))
  }

  // MARK: - JSON lines

  func testJSONLogFormat() throws {
    let script = """
      #!/bin/sh
      printf 'plain\\n'
      printf 'bad \\377\\376 bytes\\n'
      printf 'tab\\there "quoted" back\\\\slash\\n'
      printf 'esc \\033[1m\\n'
      printf 'caf\\303\\251\\n'

      """
    let project = try makeProject(["Procfile": "web: ./print.sh\n", "print.sh": script])
    let forge = try launch(["start", "--log-format", "json", "--color", "--timestamp"], in: project)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript())

    var web: [String] = []
    var forgeLines: [String] = []
    for line in forge.stdout.lines {
      let object = try XCTUnwrap(
        JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String], "not a JSON object: \(line)")
      XCTAssertEqual(Set(object.keys), ["time", "process", "line"], line)
      let time = try XCTUnwrap(object["time"])
      XCTAssertNotNil(
        time.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"#, options: .regularExpression), "time \(time)")
      switch object["process"] {
      case "web.1": web.append(object["line"] ?? "")
      case "forge": forgeLines.append(object["line"] ?? "")
      default: XCTFail("unexpected process in \(line)")
      }
    }
    XCTAssertEqual(web.count, 7, "\(web)")
    XCTAssertTrue(web.first?.hasPrefix("started with pid ") ?? false, "\(web)")
    XCTAssertEqual(
      Array(web.dropFirst()),
      [
        "plain", "bad \u{FFFD}\u{FFFD} bytes", "tab\there \"quoted\" back\\slash", "esc \u{1B}[1m", "caf\u{e9}",
        "exited with code 0",
      ])
    XCTAssertTrue(forgeLines.first?.hasPrefix("release ") ?? false, "\(forgeLines)")
    XCTAssertTrue(forgeLines.contains("sending SIGTERM to all processes"), "\(forgeLines)")
  }

  /// `forge logs` prints in the live stream's format: JSON lines for a forge that prints them.
  func testLogsOfAJSONFormationAreJSONLines() throws {
    let project = try makeProject(["Procfile": "web: echo hello; exec sleep 600\n"])
    let forge = try launch(["start", "--log-format", "json", "-t", "1"], in: project)
    try forge.waitForLine(containing: "hello")
    let logs = try runForge(["logs", "web"], in: project)
    XCTAssertEqual(logs.status, 0, logs.stderr)
    let objects = logs.stdoutLines.compactMap {
      try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
    }
    XCTAssertEqual(objects.count, logs.stdoutLines.count, logs.stdout)
    XCTAssertEqual(objects.last?["line"] as? String, "hello", logs.stdout)
    forge.send(SIGTERM)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript())
  }

  func testJSONLinesStayWholeWithSeveralChattyProcesses() throws {
    let count = 3000
    let writer = { (name: String) in
      "awk 'BEGIN { for (i = 1; i <= \(count); i++) printf \"\(name) %d \\\"q\\\" \\\\ \\t end\\n\", i }';"
        + " echo \(name)-done; exec sleep 600"
    }
    let project = try makeProject(["Procfile": "web: \(writer("web"))\nworker: \(writer("worker"))\n"])
    let forge = try launch(["start", "--log-format", "json"], in: project)
    try forge.waitForLine(containing: "web-done", timeout: 60)
    try forge.waitForLine(containing: "worker-done", timeout: 60)
    forge.send(SIGTERM)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript(lastLines: 5))
    var numbers: [String: [Int]] = [:]
    for line in forge.stdout.lines {
      guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String],
        let process = object["process"], let text = object["line"]
      else {
        XCTFail("not a whole JSON line: \(line.prefix(200))")
        continue
      }
      let words = text.split(separator: " ")
      guard words.count == 6, words[0] == "web" || words[0] == "worker" else { continue }
      XCTAssertEqual(process, "\(words[0]).1", "a line under another's name")
      XCTAssertEqual(Array(words[2...]).joined(separator: " "), "\"q\" \\ \t end", "escaping")
      numbers[process, default: []].append(Int(words[1]) ?? -1)
    }
    XCTAssertEqual(numbers["web.1"] == Array(1...count), true, "web.1: every line once, in order")
    XCTAssertEqual(numbers["worker.1"] == Array(1...count), true, "worker.1: every line once, in order")
  }

  func testJSONFormatFromVariable() throws {
    let forge = try runHello(environment: ["FORGE_LOG_FORMAT": "json"])
    for line in forge.stdout.lines {
      XCTAssertNotNil(try? JSONSerialization.jsonObject(with: Data(line.utf8)), "not JSON: \(line)")
    }
  }

  func testUnknownLogFormatIsAnError() throws {
    let project = try helloProject()
    let result = try runForge(["start", "--log-format", "xml"], in: project)
    XCTAssertEqual(result.status, 2)
    XCTAssertEqual(result.stderr, "forge: --log-format: expected text or json, got \"xml\"\n")
  }

  // MARK: - Pseudo-terminals

  func testTTYTypeSeesATerminalAndIsLineBuffered() throws {
    guard let python = ForgeHarness.which("python3") else { throw XCTSkip("python3 is not installed") }
    let check = "import sys, time; print('tty:', sys.stdout.isatty()); time.sleep(600)"
    let project = try makeProject([
      "Procfile": "web: \(python) -c \"\(check)\"\nworker: \(python) -c \"\(check)\"\n"
    ])
    let forge = try launch(["start", "--tty", "web", "-t", "2"], in: project)
    // Printed without a flush: it arrives while the process still runs only if stdout is a
    // terminal (line-buffered); on a pipe it would wait in Python's buffer.
    let line = try forge.waitForLine(containing: "tty:", from: "web.1")
    XCTAssertTrue(
      line.hasSuffix("web.1    | tty: True"), "no carriage return left, and isatty: \(line.debugDescription)")
    XCTAssertTrue(forge.isRunning)
    XCTAssertFalse(forge.lines(of: "worker.1").contains { $0.hasPrefix("tty:") }, "a pipe is block-buffered")
    forge.send(SIGTERM)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript())
  }

  func testTTYUnknownTypeIsAnError() throws {
    let project = try helloProject()
    let result = try runForge(["start", "--tty", "nope"], in: project)
    XCTAssertEqual(result.status, 2)
    XCTAssertEqual(result.stderr, "forge: --tty: unknown process type \"nope\"\n")
  }

  func testTTYLastLineOfAnExitingProcessIsKept() throws {
    let project = try makeProject(["Procfile": "web: printf 'first\\nlast words'\n"])
    let forge = try launch(["start", "--tty", "web"], in: project)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript())
    XCTAssertEqual(Array(forge.lines(of: "web.1").dropFirst()), ["first", "last words", "exited with code 0"])
  }
}
