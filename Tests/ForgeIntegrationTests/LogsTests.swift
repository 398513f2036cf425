import Foundation
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// `forge logs`: the recent lines forge keeps per instance (bounded by lines and by 256 KiB),
/// merged in arrival order, in the live stream's format or JSON, for targets of any state, and
/// `-f`, whose follower never slows the formation and is told how many lines it lost.
final class LogsTests: ForgeControlTestCase {
  /// Prints `$PS line 1` … `$PS line N` (N is its argument), then behaves as
  /// `HelperScripts.service`.
  private let chatty = """
    #!/bin/sh
    trap 'echo "got TERM"; exit 0' TERM
    trap 'echo "got USR1"' USR1
    trap 'echo "got USR2"' USR2
    \(HelperScripts.idleSetup)
    i=1; while [ "$i" -le "$1" ]; do echo "$PS line $i"; i=$((i + 1)); done
    echo "ready pid=$$"
    \(HelperScripts.idleLoop)

    """

  private func logs(_ arguments: [String], in project: ForgeProject) throws -> [String] {
    let result = try runForge(["logs"] + arguments, in: project)
    XCTAssertEqual(result.status, 0, "forge logs \(arguments): \(result.stderr)")
    XCTAssertEqual(result.stderr, "", "forge logs \(arguments)")
    return result.stdoutLines
  }

  /// The live stdout lines of the named processes, in order.
  private func live(_ forge: ForgeProcess, _ names: Set<String>) -> [String] {
    forge.stdout.lines.filter { LogLine($0).map { names.contains($0.process) } ?? false }
  }

  private func stop(_ forge: ForgeProcess, file: StaticString = #filePath, line: UInt = #line) throws {
    forge.send(SIGTERM)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript(), file: file, line: line)
  }

  // MARK: - History

  func testLogsPrintsTheRecentLinesOfItsTargetsMergedInArrivalOrderAsTheLiveStreamDid() throws {
    let project = try makeProject([
      "Procfile": "web: exec ./chatty.sh 3\nworker: exec ./chatty.sh 2\n", "chatty.sh": chatty,
    ])
    let forge = try launch(["start", "-t", "1", "-m", "web=2,worker=1"], in: project)
    for name in ["web.1", "web.2", "worker.1"] { try forge.waitForLine(containing: "ready pid=", from: name) }

    // Quiet now: the history is exactly what the live stream printed, forge's lines included.
    XCTAssertEqual(try logs([], in: project), forge.stdout.lines, forge.transcript())
    XCTAssertTrue(try logs(["forge"], in: project).contains { $0.hasPrefix("forge    | release ") })
    XCTAssertEqual(try logs(["web", "-n", "4"], in: project), Array(live(forge, ["web.1", "web.2"]).suffix(4)))
    XCTAssertEqual(
      try logs(["web.2", "worker"], in: project), live(forge, ["web.2", "worker.1"]), forge.transcript())
    XCTAssertEqual(try logs(["-n", "0"], in: project), [])

    let json = try logs(["worker", "--json"], in: project)
    let objects = try json.map { line in
      try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], line)
    }
    XCTAssertEqual(objects.map { $0["line"] as? String }, live(forge, ["worker.1"]).map { LogLine($0)?.text })
    for object in objects {
      XCTAssertEqual(object["process"] as? String, "worker.1", "\(object)")
      let time = try XCTUnwrap(object["time"] as? String, "\(object)")
      XCTAssertNotNil(time.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"#, options: .regularExpression), time)
    }

    // Time stamps as asked (by default as the live stream had them: here none).
    let stamped = try logs(["worker", "--timestamp"], in: project)
    XCTAssertEqual(stamped.map { String($0.dropFirst(9)) }, live(forge, ["worker.1"]))
    XCTAssertTrue(
      stamped.allSatisfy { $0.range(of: #"^\d\d:\d\d:\d\d "#, options: .regularExpression) != nil }, "\(stamped)")
    XCTAssertEqual(try logs(["worker", "--timestamp", "--no-timestamp"], in: project), live(forge, ["worker.1"]))

    let unknown = try runForge(["logs", "web", "nope"], in: project)
    XCTAssertEqual(unknown.status, 1, unknown.stderr)
    XCTAssertTrue(unknown.stderr.hasPrefix("forge: no process type or instance named \"nope\""), unknown.stderr)
    XCTAssertEqual(unknown.stdout, "")
    try stop(forge)
  }

  func testLinesOfExitedAndScaledAwayInstancesStayReadableWithTheirArrivalTimes() throws {
    let project = try makeProject([
      "Procfile": "web: exec ./chatty.sh 2\nonce: echo once did its job\n", "chatty.sh": chatty,
    ])
    let forge = try launch(
      ["start", "-t", "1", "-m", "web=3,once=1", "--restart", "on-failure", "--timestamp"], in: project)
    for name in ["web.1", "web.2", "web.3"] { try forge.waitForLine(containing: "ready pid=", from: name) }
    try forge.waitForLine(containing: "exited with code 0", from: "once.1")
    try control(["scale", "web=1"], in: project)
    try forge.waitForLine(containing: "scale web=1: done", from: "forge")
    XCTAssertEqual(try processTable(in: project).names, ["web.1", "once.1"])

    // Each line with its arrival time, as the live stream (which had timestamps) printed it.
    func parsed(_ lines: [String]) -> [String] {
      lines.map { line in
        XCTAssertNotNil(line.range(of: #"^\d\d:\d\d:\d\d "#, options: .regularExpression), line)
        return LogLine(line).map { "\($0.process) | \($0.text)" } ?? "unparsed: \(line)"
      }
    }
    let web3 = try logs(["web.3"], in: project)
    XCTAssertEqual(parsed(web3), parsed(live(forge, ["web.3"])), forge.transcript())
    XCTAssertEqual(parsed(web3).suffix(2), ["web.3 | got TERM", "web.3 | exited with code 0"])
    XCTAssertEqual(parsed(try logs(["web"], in: project)), parsed(live(forge, ["web.1", "web.2", "web.3"])))
    XCTAssertEqual(
      parsed(try logs(["once"], in: project)).suffix(2), ["once.1 | once did its job", "once.1 | exited with code 0"])

    // A number that comes back keeps its earlier lines, older first.
    try control(["scale", "web=2"], in: project)
    try forge.waitForLine(containing: "ready pid=", from: "web.2", count: 2)
    let web2 = parsed(try logs(["web.2"], in: project))
    XCTAssertEqual(web2.filter { $0.hasPrefix("web.2 | started with pid") }.count, 2, web2.joined(separator: "\n"))
    XCTAssertEqual(web2, parsed(live(forge, ["web.2"])))
    try stop(forge)
  }

  // MARK: - Bounds

  func testEachInstanceKeepsAtMostLogBufferLines() throws {
    let project = try makeProject([
      "Procfile": "web: exec ./chatty.sh 200\nworker: exec ./chatty.sh 3\n", "chatty.sh": chatty,
    ])
    let forge = try launch(["start", "-t", "1", "--log-buffer", "50"], in: project)
    try forge.waitForLine(containing: "ready pid=", from: "web.1")
    try forge.waitForLine(containing: "ready pid=", from: "worker.1")

    let web = try logs(["web", "-n", "1000"], in: project)
    XCTAssertEqual(web, Array(live(forge, ["web.1"]).suffix(50)), forge.transcript())
    XCTAssertEqual(web.first.flatMap(LogLine.init)?.text, "web.1 line 152")
    // The other rings are untouched by web's.
    XCTAssertEqual(try logs(["worker", "-n", "1000"], in: project), live(forge, ["worker.1"]))
    XCTAssertEqual(try logs(["forge", "-n", "1000"], in: project), live(forge, ["forge"]))
    try stop(forge)
  }

  func testEachInstanceKeepsAtMost256KiBOfItsMostRecentLines() throws {
    // 600 lines of 1000 bytes (600 kB), then "end": far below 1000 lines, far above 256 KiB.
    let flood = #"awk 'BEGIN { for (i = 1; i <= 600; i++) printf "%04d%0996d\n", i, 0 }'; echo end"#
    let project = try makeProject(["Procfile": "web: \(flood); exec sleep 600\n"])
    let forge = try launch(["start", "-t", "1"], in: project)
    try forge.waitForLine(containing: "end", from: "web.1")

    let texts = try logs(["web", "-n", "1000"], in: project).compactMap { LogLine($0)?.text }
    let bytes = texts.reduce(0) { $0 + $1.utf8.count }
    XCTAssertLessThanOrEqual(bytes, 256 * 1024, "\(texts.count) lines kept")
    XCTAssertGreaterThan(bytes + 1000, 256 * 1024, "one more line would have fit: \(texts.count) lines kept")
    XCTAssertEqual(texts.last, "end")
    // The most recent ones, none missing.
    let numbers = texts.dropLast().compactMap { Int($0.prefix(4)) }
    XCTAssertEqual(numbers, Array((601 - numbers.count)...600))
    XCTAssertEqual(numbers.count, texts.count - 1, "only the generated lines and end are kept")
    try stop(forge)
  }

  // MARK: - Following

  func testFollowPrintsTheHistoryThenLiveLinesOfItsTargetsUntilForgeStops() throws {
    let project = try makeProject([
      "Procfile": "web: exec ./chatty.sh 2\nworker: exec ./chatty.sh 2\n", "chatty.sh": chatty,
    ])
    let forge = try launch(["start", "-t", "1"], in: project)
    try forge.waitForLine(containing: "ready pid=", from: "web.1")
    try forge.waitForLine(containing: "ready pid=", from: "worker.1")

    let follower = try launch(["logs", "-f", "-n", "1", "web"], in: project)
    try follower.waitForLine(containing: "ready pid=", from: "web.1")
    try control(["signal", "USR2", "worker"], in: project)
    try forge.waitForLine(containing: "got USR2", from: "worker.1")
    try control(["signal", "USR1", "web"], in: project)
    try follower.waitForLine(containing: "got USR1", from: "web.1")

    forge.send(SIGTERM)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript())
    XCTAssertEqual(try follower.waitForExit(), 0, "the follower ends with forge\n\(follower.transcript())")
    let expected = live(forge, ["web.1"])
    let start = try XCTUnwrap(expected.firstIndex { $0.contains("ready pid=") })
    XCTAssertEqual(follower.stdout.lines, Array(expected[start...]), follower.transcript())
    XCTAssertEqual(
      follower.stdout.lines.suffix(2).compactMap { LogLine($0)?.text }, ["got TERM", "exited with code 0"])
    XCTAssertEqual(follower.stderr.text, "")
  }

  func testASlowFollowerLosesLinesAndIsToldHowManyWhileTheFormationRunsAtFullSpeed() throws {
    try slowFollower(json: false)
  }

  /// The same in JSON: every line the follower gets is a JSON object, the marker too (a line
  /// of forge's with the count as a number), so a JSON-lines reader never meets plain text.
  func testASlowJSONFollowerIsToldHowManyLinesItLostInJSON() throws {
    try slowFollower(json: true)
  }

  /// What a follower's output line is: a line of a process (its text), `… N lines skipped`
  /// (N), or neither.
  private enum FollowedLine {
    case text(String)
    case skipped(Int)
    case other

    init(_ line: String, json: Bool) {
      if json {
        guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
          self = .other
          return
        }
        if let count = object["skipped"] as? Int {
          self = object["line"] as? String == "… \(count) lines skipped" ? .skipped(count) : .other
        } else {
          self = (object["line"] as? String).map(FollowedLine.text) ?? .other
        }
        return
      }
      if line.hasPrefix("… "), line.hasSuffix(" lines skipped"),
        let count = Int(line.dropFirst(2).prefix { $0.isNumber })
      {
        self = .skipped(count)
      } else {
        self = LogLine(line).map { .text($0.text) } ?? .other
      }
    }
  }

  private func slowFollower(json: Bool) throws {
    // 4 MB, then (once the follower is stuck for good) 1.25 MB more: far beyond its 1 MiB. The
    // last line is longer than the others, so where they no longer fit, it does not either.
    func flood(_ range: ClosedRange<Int>) -> String {
      #"awk 'BEGIN { for (i = \#(range.lowerBound); i <= \#(range.upperBound); i++) printf "flood %06d %090d\n", i, 0 }'"#
    }
    let total = 52_000
    let project = try makeProject([
      "Procfile": """
      web: echo waiting; \(Readiness.gate("go")); \(flood(1...40_000)); \(Readiness.gate("go-on")); \
      \(flood(40_001...total)); printf 'flood done %0100d\\n' 0; \(Readiness.gate("go-again")); echo after the flood; exec sleep 600

      """
    ])
    let forge = try launch(["start", "-t", "1"], in: project)
    try forge.waitForLine(containing: "waiting", from: "web.1")
    // Nobody reads the follower's own stdout until resumed: it fills up, then the follower stops
    // reading forge. Subscribed: it waits for forge (in poll), and forge has served a request
    // made after it.
    let follower = try launch(
      ["logs", "-f", "-n", "1", "web"] + (json ? ["--json"] : []), in: project, stdout: .pausedPipe)
    XCTAssertTrue(eventually(timeout: 5) { ProcFS.waitChannel(follower.pid).contains("poll") }, follower.transcript())
    _ = try processTable(in: project)

    try project.write("go", "")
    try forge.waitForLine(containing: "flood 040000 ", from: "web.1")
    // Stuck for good: blocked writing to its stdout, which nobody reads. Then more.
    XCTAssertTrue(eventually(timeout: 5) { ProcFS.isBlockedOnPipeWrite(follower.pid) }, follower.transcript())
    try project.write("go-on", "")
    // All of it reaches forge's own stdout while the follower is stuck.
    try forge.waitForLine(containing: "flood done", from: "web.1")
    XCTAssertEqual(forge.lines(of: "web.1").filter { $0.hasPrefix("flood 0") }.count, total)

    // Once it has taken what forge kept for it, it has every line up to "flood done" or has
    // been told it lost it, with no further line needed to tell it.
    follower.stdout.resume()
    var accounted = 0
    _ = try follower.waitForLines("the flood received or counted as skipped", timeout: 5) { line in
      switch FollowedLine(line, json: json) {
      case .text(let text) where text.hasPrefix("flood 0") || text.hasPrefix("flood done"): accounted += 1
      case .skipped(let count): accounted += count
      default: break
      }
      return accounted >= total + 1
    }
    try project.write("go-again", "")
    _ = try follower.waitForLines("after the flood", timeout: 5) { line in
      if case .text("after the flood") = FollowedLine(line, json: json) { return true }
      return false
    }
    let lines = follower.stdout.lines.map { FollowedLine($0, json: json) }
    let texts = lines.compactMap { line -> String? in
      if case .text(let text) = line { return text }
      return nil
    }
    let received = texts.filter { $0.hasPrefix("flood 0") }.compactMap { Int($0.dropFirst(6).prefix(6)) }
    let skipped = lines.compactMap { line -> Int? in
      if case .skipped(let count) = line { return count }
      return nil
    }
    let unknown = follower.stdout.lines.filter { if case .other = FollowedLine($0, json: json) { true } else { false } }
    XCTAssertEqual(unknown, [], "every line is a line of a process or a marker")
    // Once behind, it takes lines again only when it has caught up: never two markers in a row.
    let adjacentMarkers = zip(lines, lines.dropFirst()).contains { pair in
      if case .skipped = pair.0, case .skipped = pair.1 { return true }
      return false
    }
    XCTAssertFalse(adjacentMarkers, "\(skipped) skipped")
    XCTAssertEqual(received, received.sorted(), "in order")
    XCTAssertEqual(Set(received).count, received.count, "no line twice")
    XCTAssertFalse(texts.contains { $0.hasPrefix("flood done") }, "it came while the follower was stuck")
    XCTAssertEqual(received.count + skipped.reduce(0, +), total + 1, "\(skipped) skipped")
    XCTAssertEqual(texts.last, "after the flood")
    try stop(forge)
  }
}
