import Foundation
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// What `forge logs` and `forge events` do with their own stdout: they end when its reader
/// goes (as `cat` does, by SIGPIPE) or it fails (a message, status 1); they print only whole
/// lines, even when forge stops with them behind; and a line shows the time forge's own
/// stdout gave it.
final class LogsClientTests: ForgeControlTestCase {
  /// A web that prints a numbered line every 20 ms until stopped.
  private let ticking = "web: i=0; while :; do i=$((i+1)); echo \"tick $i\"; sleep 0.02; done\n"

  func testAFollowerWhoseReaderHasGoneEndsAsCatDoesWhileForgeRuns() throws {
    try checkEndsWhenItsReaderGoes(["logs", "-f"])
  }

  func testAnEventsStreamWhoseReaderHasGoneEnds() throws {
    try checkEndsWhenItsReaderGoes(["events"], restarting: true)
  }

  /// `forge logs -f | head -n 1`: the client ends with the next line it cannot write, killed
  /// by SIGPIPE (status 141 to a shell), while forge goes on.
  private func checkEndsWhenItsReaderGoes(_ arguments: [String], restarting: Bool = false) throws {
    // Events come when something happens: a web that exits every 50 ms and is restarted.
    let procfile = restarting ? "web: sleep 0.05\n" : ticking
    let project = try makeProject(["Procfile": procfile])
    let forge = try launch(["start", "-t", "1"] + (restarting ? ["--restart", "always"] : []), in: project)
    try forge.waitForLine(containing: "started with pid", from: "web.1")
    let client = try launch(arguments, in: project, stdout: .closeAfterLines(1))
    XCTAssertEqual(try client.waitForExit(timeout: 10), 128 + SIGPIPE, client.transcript())
    XCTAssertEqual(client.stderr.text, "")
    XCTAssertEqual(kill(forge.pid, 0), 0, "forge runs on")
    forge.send(SIGTERM)
    _ = try forge.waitForExit()
  }

  /// `forge logs > /dev/full`: the output is lost, so the client says so and fails.
  func testAStdoutThatFailsIsAnError() throws {
    let project = try makeProject(["Procfile": ticking])
    let forge = try launch(["start", "-t", "1"], in: project)
    try forge.waitForLine(containing: "tick 2", from: "web.1")
    let result = try runProgram(
      "/bin/sh", ["-c", "\"$0\" logs > /dev/full", try ForgeHarness.forgeBinary()], in: project)
    XCTAssertEqual(result.status, 1, result.stderr)
    XCTAssertEqual(result.stderr, "forge: write to stdout: No space left on device\n")
    forge.send(SIGTERM)
    _ = try forge.waitForExit()
  }

  /// forge stops while a follower is stopped with its pipe full: forge waits 2 s for it, then
  /// exits, and what the pipe holds ends mid-line. The follower prints every whole line and,
  /// in place of the cut one, says the rest was lost.
  func testAFollowerBehindWhenForgeStopsPrintsOnlyWholeLines() throws {
    let flood = #"awk 'BEGIN { for (i = 1; i <= 60000; i++) printf "flood %06d %090d\n", i, 0 }'"#
    let project = try makeProject([
      "Procfile": "web: echo waiting; \(Readiness.gate("go")); \(flood); echo flood done; exec sleep 600\n"
    ])
    let forge = try launch(["start", "-t", "1"], in: project)
    try forge.waitForLine(containing: "waiting", from: "web.1")
    let follower = try launch(["logs", "-f", "-n", "1", "web"], in: project)
    try follower.waitForLine(containing: "waiting", from: "web.1")
    kill(follower.pid, SIGSTOP)
    try project.write("go", "")
    try forge.waitForLine(containing: "flood done", from: "web.1")
    forge.send(SIGTERM)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript())
    kill(follower.pid, SIGCONT)
    XCTAssertEqual(try follower.waitForExit(), 0, follower.transcript())
    let lines = follower.stdout.lines
    let lost = "… the end of the stream was lost: forge stopped while this client was behind"
    for line in lines where line != lost && !line.hasPrefix("… ") {
      guard let text = LogLine(line)?.text else {
        XCTFail("not a whole line of the stream: \(line.prefix(120))")
        continue
      }
      if text.hasPrefix("flood ") && text != "flood done" {
        XCTAssertTrue(text.range(of: #"^flood \d{6} 0{90}$"#, options: .regularExpression) != nil, "cut: \(text)")
      }
    }
    // The pipe is filled a page at a time: what it holds ends mid-line (but for a line that
    // happens to end on a page's last byte).
    if lines.last != lost {
      XCTAssertTrue(lines.last.map { LogLine($0) != nil } ?? false, "the last line is whole")
    }
    XCTAssertEqual(follower.stderr.text, "")
  }

  /// With `--log-format json`, the same line has the same time on forge's stdout, in
  /// `forge logs` and for a follower (forge's own lines among them).
  func testAJSONLineHasTheSameTimeOnStdoutInTheRingAndForAFollower() throws {
    let project = try makeProject([
      "Procfile": "a: echo a; exec sleep 600\nb: echo b; exec sleep 600\nc: echo c; exec sleep 600\n"
    ])
    let forge = try launch(["start", "--log-format", "json", "-t", "1"], in: project)
    try forge.waitForLine(containing: "\"line\":\"c\"")
    // The history first (forge's own lines among it), then the stop's lines live.
    let follower = try launch(["logs", "-f"], in: project)
    try follower.waitForLine(containing: "\"line\":\"c\"")
    let history = try runForge(["logs", "--json"], in: project)
    XCTAssertEqual(history.status, 0, history.stderr)
    forge.send(SIGTERM)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript())
    XCTAssertEqual(try follower.waitForExit(), 0, follower.transcript())
    let stdout = Set(forge.stdout.lines)
    XCTAssertFalse(history.stdoutLines.isEmpty)
    for line in history.stdoutLines {
      XCTAssertTrue(stdout.contains(line), "forge logs: \(line) is not on stdout")
    }
    XCTAssertFalse(follower.stdout.lines.isEmpty)
    for line in follower.stdout.lines {
      XCTAssertTrue(stdout.contains(line), "the follower: \(line) is not on stdout")
    }
  }
}
