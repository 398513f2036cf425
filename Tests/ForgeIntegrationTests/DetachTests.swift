import Foundation
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// `forge start --detach` (`-D`, `FORGE_DETACH`): the caller returns once the formation is up
/// (ready, with `--ready`) and the formation runs on in its own session; its log goes to the
/// ring and to `--log-file`, rotated at `--log-file-size`; a start that fails is reported to
/// the caller with a non-zero status; PID 1 refuses to detach.
final class DetachTests: ForgeControlTestCase {
  private let announcement = #"^forge running in the background \(pid (\d+)\); forge logs -f, forge stop\n$"#

  /// The background forge's pid from the caller's one line, or a failure naming what it said.
  private func backgroundPid(_ result: ForgeResult, file: StaticString = #filePath, line: UInt = #line) throws
    -> pid_t
  {
    XCTAssertEqual(result.status, 0, result.stderr, file: file, line: line)
    XCTAssertEqual(result.stderr, "", file: file, line: line)
    let regex = try NSRegularExpression(pattern: announcement)
    let text = result.stdout
    guard let match = regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)),
      let range = Range(match.range(at: 1), in: text), let pid = pid_t(text[range])
    else { throw HarnessError("not the announcement of a detached forge: \(text.debugDescription)") }
    return pid
  }

  private func stopDetached(_ pid: pid_t, in project: ForgeProject) throws {
    XCTAssertEqual(try control(["stop"], in: project), "stopped\n")
    XCTAssertTrue(eventually(timeout: 5) { !ProcFS.isAlive(pid) }, "forge \(pid) is still there after forge stop")
    XCTAssertFalse(project.exists(".forge.sock"), "the control socket is removed")
  }

  // MARK: - Going into the background

  func testDetachReturnsOnceTheFormationRunsAndItGoesOnInItsOwnSession() throws {
    let project = try makeProject(["Procfile": "web: exec ./service.sh\n", "service.sh": HelperScripts.service])
    try project.write("forge.log", "from an earlier run\n")
    let pid = try backgroundPid(try runForge(["start", "--detach", "-t", "1", "--log-file", "forge.log"], in: project))

    XCTAssertTrue(ProcFS.isAlive(pid), "the background forge runs")
    XCTAssertTrue(ProcFS.commandLine(pid).contains(" start "), ProcFS.commandLine(pid))
    XCTAssertEqual(ProcFS.stat(pid)?.session, pid, "a session of its own")
    // Every process had started when the caller returned.
    let table = try processTable(in: project)
    XCTAssertEqual(table["web.1"]?.state, "running", table.text)
    let web = try table.pid("web.1")
    XCTAssertTrue(try control(["logs", "web"], in: project).contains("web.1 | started with pid \(web)\n"))

    try stopDetached(pid, in: project)
    let log = try XCTUnwrap(project.read("forge.log"))
    XCTAssertTrue(log.hasPrefix("from an earlier run\nforge | release "), "appended\n\(log)")
    for expected in ["web.1 | started with pid \(web)\n", "web.1 | got TERM\n", "web.1 | exited with code 0\n"] {
      XCTAssertTrue(log.contains(expected), "\(expected) is missing from the log file\n\(log)")
    }
  }

  /// The background forge's processes get the caller's environment as a foreground start would
  /// give it (nothing added by detaching), so the release id is the same too.
  func testADetachedFormationHasTheEnvironmentAndReleaseOfAForegroundOne() throws {
    let project = try makeProject(["Procfile": "web: exec ./service.sh\n", "service.sh": HelperScripts.service])
    let caller = try launch(["start", "--detach", "-t", "1"], in: project)
    let status = try caller.waitForExit()
    let pid = try backgroundPid(ForgeResult(status: status, stdout: caller.stdout.text, stderr: caller.stderr.text))
    let same = [ForgeHarness.markerVariable: caller.marker]
    let probe = ["sh", "-c", #"echo "$FORGE_RELEASE ${FORGE_DETACH-unset} ${FORGE_DETACHED_REPORT-unset}""#]
    let running = try runForge(["run"] + probe, in: project, environment: same)
    let fresh = try runForge(["run", "--fresh"] + probe, in: project, environment: same)
    XCTAssertEqual(running.status, 0, running.stderr)
    XCTAssertEqual(running.stderr, "", "no '.env changed': the files give the running release")
    XCTAssertEqual(running.stdout, fresh.stdout)
    XCTAssertTrue(running.stdout.hasSuffix(" unset unset\n"), running.stdout)
    try stopDetached(pid, in: project)
  }

  func testWithReadyTheCallerWaitsUntilEveryProcessIsReady() throws {
    let project = try makeProject([
      "Procfile": "web: touch web-started; \(Readiness.gate("go")); exec ./service.sh\n",
      "service.sh": HelperScripts.service,
    ])
    let caller = try launch(
      ["start", "-t", "1", "--ready", "web=log:ready pid"], in: project, environment: ["FORGE_DETACH": "1"])
    // The background forge prints nothing anywhere the test sees: the file is the only sign.
    XCTAssertTrue(eventually(timeout: 10) { project.exists("web-started") }, caller.transcript())
    let waiting = try processTable(in: project)
    XCTAssertEqual(waiting["web.1"]?.state, "running", waiting.text)
    XCTAssertEqual(Readiness.flag(waiting["web.1"], "ready"), false, waiting.text)
    XCTAssertTrue(caller.isRunning, "returned before web.1 was ready\n\(caller.transcript())")

    try project.write("go", "")
    XCTAssertEqual(try caller.waitForExit(), 0, caller.transcript())
    let pid = try backgroundPid(ForgeResult(status: 0, stdout: caller.stdout.text, stderr: caller.stderr.text))
    XCTAssertEqual(Readiness.flag(try processTable(in: project)["web.1"], "ready"), true)
    try stopDetached(pid, in: project)
  }

  func testAFormationThatPrintsNothingIsReportedAsRunning() throws {
    // Nothing but the start itself happens: no output, no exit, no request.
    let project = try makeProject(["Procfile": "web: exec sleep 600\n"])
    let caller = try launch(["start", "-D", "-t", "1"], in: project)
    let status = try caller.waitForExit(timeout: 8)
    let pid = try backgroundPid(ForgeResult(status: status, stdout: caller.stdout.text, stderr: caller.stderr.text))
    try stopDetached(pid, in: project)
  }

  // MARK: - The log file

  func testTheLogFileIsRotatedAtItsSizeKeepingOneOldFile() throws {
    // On SIGUSR1: 50 lines of 100 bytes as one batch, then `batch N end`.
    let batches = """
      #!/bin/sh
      n=0
      batch() {
        n=$((n + 1)); i=1
        while [ "$i" -le 50 ]; do printf 'batch %d line %02d %080d\\n' "$n" "$i" 0; i=$((i + 1)); done
        echo "batch $n end"
      }
      trap batch USR1
      trap 'exit 0' TERM
      \(HelperScripts.idleSetup)
      echo "ready pid=$$"
      \(HelperScripts.idleLoop)

      """
    let project = try makeProject(["Procfile": "web: exec ./batches.sh\n", "batches.sh": batches])
    let pid = try backgroundPid(
      try runForge(["start", "-D", "-t", "1", "--log-file", "forge.log", "--log-file-size", "4096"], in: project))
    let follower = try launch(["logs", "-f", "-n", "1", "web"], in: project)
    try follower.waitForLine(containing: "ready pid=", from: "web.1")
    for n in 1...3 {
      try control(["signal", "USR1", "web"], in: project)
      try follower.waitForLine(containing: "batch \(n) end", from: "web.1")
    }
    try stopDetached(pid, in: project)

    let files = try FileManager.default.contentsOfDirectory(atPath: project.directory).filter {
      $0.hasPrefix("forge.log")
    }
    XCTAssertEqual(files.sorted(), ["forge.log", "forge.log.1"], "one old file is kept")
    let old = try XCTUnwrap(project.read("forge.log.1"))
    let current = try XCTUnwrap(project.read("forge.log"))
    // A batch (5 KB) comes in one burst: the file still stops at the size, at a line's end,
    // filled to within one line (about 110 bytes) of it.
    XCTAssertLessThanOrEqual(old.utf8.count, 4096, "rotated at --log-file-size, not after the burst")
    XCTAssertGreaterThan(old.utf8.count, 4096 - 120, "rotated before it was full")
    XCTAssertLessThanOrEqual(current.utf8.count, 4096)
    XCTAssertTrue(old.hasSuffix("\n") && current.hasSuffix("\n"), "no line split between the files")
    let lines = (old + current).split(separator: "\n").map(String.init)
    XCTAssertFalse(lines.contains { $0.hasPrefix("forge | release ") }, "the oldest lines were rotated away")
    XCTAssertFalse(lines.contains { $0.hasPrefix("web.1 | batch 1 line 01 ") }, "rotated away twice")
    XCTAssertEqual(lines.last, "web.1 | exited with code 0", "the newest lines are in the current file")
    // What is left is the stream's tail, with nothing missing in between.
    let batchLines = lines.compactMap { line -> (Int, Int)? in
      let fields = line.split(separator: " ")
      guard fields.count == 7, fields[2] == "batch", fields[4] == "line" else { return nil }
      return Int(fields[3]).flatMap { n in Int(fields[5]).map { (n, $0) } }
    }
    for (previous, next) in zip(batchLines, batchLines.dropFirst()) {
      let follows = next == (previous.0, previous.1 + 1) || (next.0 == previous.0 + 1 && next.1 == 1)
      XCTAssertTrue(follows, "batch \(next.0) line \(next.1) after batch \(previous.0) line \(previous.1)")
    }
    XCTAssertEqual(batchLines.last.map { [$0.0, $0.1] }, [3, 50])
  }

  // MARK: - Failures at start

  func testAStartThatFailsIsReportedToTheCallerWithANonZeroStatus() throws {
    let project = try makeProject(["Procfile": "web: exec ./service.sh\n", "service.sh": HelperScripts.service])
    let foreground = try launch(["start", "-t", "1"], in: project)
    try foreground.waitForLine(containing: "ready pid=", from: "web.1")
    let busy = try runForge(["start", "-D", "--log-file", "fresh.log"], in: project)
    XCTAssertEqual(busy.status, 1, busy.stderr)
    XCTAssertFalse(project.exists("fresh.log"), "a start that failed leaves no empty log file")
    XCTAssertEqual(
      busy.stderr, "forge: another forge is already running here (control socket \(project.path(".forge.sock")))\n")
    XCTAssertEqual(busy.stdout, "")

    // The metrics port is taken: the background forge says so, through the caller.
    let port = try MetricsHTTP.freePort()
    let listener = try MetricsHTTP.listen(port)
    defer { close(listener) }
    let metrics = try runForge(
      ["start", "-D", "--socket", "other.sock", "--metrics", "127.0.0.1:\(port)"], in: project)
    XCTAssertEqual(metrics.status, 1, metrics.stderr)
    XCTAssertTrue(metrics.stderr.hasPrefix("forge: cannot serve metrics at 127.0.0.1:\(port): "), metrics.stderr)
    XCTAssertTrue(metrics.stderr.contains("in use"), metrics.stderr)
    XCTAssertFalse(project.exists("other.sock"))

    let bad = try makeProject(["Procfile": "web: exec sleep 600\nnot a line\n"])
    let parse = try runForge(["start", "-D"], in: bad)
    XCTAssertEqual(parse.status, 2, parse.stderr)
    XCTAssertTrue(parse.stderr.hasPrefix("forge: Procfile:2: "), parse.stderr)
    foreground.send(SIGTERM)
    XCTAssertEqual(try foreground.waitForExit(), 0, foreground.transcript())
  }

  func testAProcessThatFailsBeforeTheFormationIsUpFailsTheCallerWithItsStatus() throws {
    let project = try makeProject(["Procfile": "web: echo crashing; exit 3\n"])
    let crash = try runForge(["start", "-D", "--ready", "web=log:never said"], in: project)
    XCTAssertEqual(crash.status, 3, crash.stderr)
    XCTAssertEqual(crash.stdout, "", "it never went into the background")
    XCTAssertFalse(project.exists(".forge.sock"))
  }

  func testAProcessThatFailsBeforeTheFormationIsUpIsExplainedOnTheCallersTerminal() throws {
    let project = try makeProject(["Procfile": "web: echo crashing; exit 3\n"])
    let crash = try runForge(["start", "-D", "--ready", "web=log:never said"], in: project)
    XCTAssertEqual(crash.status, 3, crash.stderr)
    // Not a bare status: the caller is told what happened (its log went nowhere it can see).
    XCTAssertTrue(crash.stderr.contains("exited with code 3"), "stderr: \(crash.stderr.debugDescription)")
  }

  func testDetachAsPID1IsAnError() throws {
    try PIDNamespace.skipUnlessAvailable()
    let project = try makeProject(["Procfile": "web: touch started; exec sleep 600\n"])
    let result = try runProgram(
      PIDNamespace.unshare, PIDNamespace.arguments + [try ForgeHarness.forgeBinary(), "start", "--detach"],
      in: project)
    XCTAssertEqual(result.status, 2, result.stderr)
    XCTAssertEqual(result.stderr, "forge: --detach: PID 1 stays in the foreground (it is the container's init)\n")
    XCTAssertEqual(result.stdout, "")
    XCTAssertFalse(project.exists("started"), "nothing started")
    XCTAssertFalse(project.exists(".forge.sock"))
  }

  /// A log file is a detached forge's: in the foreground it is bad input, not silently ignored.
  func testLogFileWithoutDetachIsAnError() throws {
    let project = try makeProject(["Procfile": "web: touch started; exec sleep 600\n"])
    for (arguments, environment, source) in [
      (["start", "--log-file", "forge.log"], [String: String](), "--log-file"),
      (["start"], ["FORGE_LOG_FILE": "forge.log"], "FORGE_LOG_FILE"),
    ] {
      let result = try runForge(arguments, in: project, environment: environment)
      XCTAssertEqual(result.status, 2, result.stderr)
      XCTAssertTrue(
        result.stderr.hasPrefix("forge: \(source): a log file is written only with --detach"), result.stderr)
    }
    XCTAssertFalse(project.exists("started"), "nothing started")
  }
}
