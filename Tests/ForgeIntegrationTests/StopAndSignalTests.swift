import Foundation
import XCTest

/// How a formation ends: a process exiting, stop signals, the grace period and SIGKILL,
/// background children, reaping, forwarded signals, and a broken stdout.
final class StopAndSignalTests: ForgeTestCase {
  /// The index of the first stdout line equal to `text` (whole line), or nil.
  private func index(of text: String, in forge: ForgeProcess) -> Int? {
    forge.stdout.lines.firstIndex { LogLine($0).map { "\($0.process) | \($0.text)" } == text }
  }

  private func assertOrder(
    _ texts: [String], in forge: ForgeProcess, file: StaticString = #filePath, line: UInt = #line
  ) {
    var previous = -1
    for text in texts {
      guard let found = index(of: text, in: forge) else {
        XCTFail("missing line \"\(text)\"\n\(forge.transcript())", file: file, line: line)
        return
      }
      XCTAssertGreaterThan(found, previous, "\"\(text)\" out of order\n\(forge.transcript())", file: file, line: line)
      previous = found
    }
  }

  // MARK: - A process exits

  func testProcessExitEndsFormationWithItsStatus() throws {
    let project = try makeProject([
      "Procfile": "web: exec ./service.sh\nworker: echo bye; exit 3\n",
      "service.sh": HelperScripts.service,
    ])
    let forge = try launch(["start"], in: project)
    XCTAssertEqual(try forge.waitForExit(), 3, forge.transcript())
    assertOrder(
      ["worker.1 | bye", "worker.1 | exited with code 3", "forge | sending SIGTERM to all processes"], in: forge)
    // web may or may not have set its trap before the SIGTERM came.
    let webEnd = forge.lines(of: "web.1").last
    XCTAssertTrue(webEnd == "exited with code 0" || webEnd == "terminated by SIGTERM", forge.transcript())
  }

  func testProcessKilledBySignalGives128PlusSignal() throws {
    let project = try makeProject([
      "Procfile": "web: exec ./service.sh\nworker: kill -TERM $$\n",
      "service.sh": HelperScripts.service,
    ])
    let forge = try launch(["start"], in: project)
    XCTAssertEqual(try forge.waitForExit(), 128 + SIGTERM, forge.transcript())
    assertOrder(["worker.1 | terminated by SIGTERM", "forge | sending SIGTERM to all processes"], in: forge)
  }

  // MARK: - Stop signals

  private func assertGracefulStop(by signal: Int32, name: String) throws {
    let project = try makeProject(["Procfile": "web: exec ./service.sh\n", "service.sh": HelperScripts.service])
    let forge = try launch(["start"], in: project)
    try forge.waitForLine(containing: "ready", from: "web.1")
    forge.send(signal)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript())
    assertOrder(
      [
        "forge | \(name) received, stopping", "forge | sending SIGTERM to all processes", "web.1 | got TERM",
        "web.1 | exited with code 0",
      ], in: forge)
    XCTAssertFalse(forge.stdout.text.contains("SIGKILL"), forge.transcript())
  }

  func testSIGINTStopsGracefully() throws {
    try assertGracefulStop(by: SIGINT, name: "SIGINT")
  }

  func testSIGTERMStopsGracefully() throws {
    try assertGracefulStop(by: SIGTERM, name: "SIGTERM")
  }

  func testSIGQUITStopsGracefully() throws {
    try assertGracefulStop(by: SIGQUIT, name: "SIGQUIT")
  }

  func testStopDoesNotWaitOutTheGracePeriod() throws {
    let project = try makeProject(["Procfile": "web: exec ./service.sh\n", "service.sh": HelperScripts.service])
    let forge = try launch(["start", "-t", "30"], in: project)
    try forge.waitForLine(containing: "ready", from: "web.1")
    let sent = Date()
    forge.send(SIGTERM)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript())
    XCTAssertLessThan(Date().timeIntervalSince(sent), 10, "forge exits once everything is gone")
  }

  func testChildIgnoringSIGTERMIsKilledAfterTheTimeout() throws {
    let project = try makeProject([
      "Procfile": "web: exec ./stubborn.sh\nworker: exec ./service.sh\n",
      "stubborn.sh": HelperScripts.ignoresTerm,
      "service.sh": HelperScripts.service,
    ])
    let forge = try launch(["start", "-t", "1"], in: project)
    let ready = try forge.waitForLine(containing: "ready", from: "web.1")
    try forge.waitForLine(containing: "ready", from: "worker.1")
    let pid = try XCTUnwrap(HelperScripts.pid("pid", in: ready))
    let sent = Date()
    forge.send(SIGTERM)
    let status = try forge.waitForExit()
    let elapsed = Date().timeIntervalSince(sent)
    XCTAssertEqual(status, 128 + SIGKILL, "something had to be SIGKILLed\n\(forge.transcript())")
    XCTAssertGreaterThanOrEqual(elapsed, 0.9, "SIGKILL came before the grace period was over")
    XCTAssertLessThan(elapsed, 1 + 4, "SIGKILL came long after the grace period")
    assertOrder(
      [
        "forge | sending SIGTERM to all processes", "worker.1 | got TERM",
        "forge | sending SIGKILL to web.1 (pid \(pid))", "web.1 | terminated by SIGKILL",
      ], in: forge)
    XCTAssertFalse(forge.stdout.text.contains("sending SIGKILL to worker.1"), forge.transcript())
    XCTAssertFalse(ProcFS.isAlive(pid))
  }

  func testSecondSIGTERMKillsAtOnce() throws {
    let project = try makeProject(["Procfile": "web: exec ./stubborn.sh\n", "stubborn.sh": HelperScripts.ignoresTerm])
    let forge = try launch(["start", "-t", "30"], in: project)
    let ready = try forge.waitForLine(containing: "ready", from: "web.1")
    let pid = try XCTUnwrap(HelperScripts.pid("pid", in: ready))
    forge.send(SIGTERM)
    try forge.waitForLine(containing: "SIGTERM received, stopping", from: "forge")
    let second = Date()
    forge.send(SIGTERM)
    XCTAssertEqual(try forge.waitForExit(), 128 + SIGKILL, forge.transcript())
    XCTAssertLessThan(Date().timeIntervalSince(second), 5, "the second SIGTERM did not kill at once")
    assertOrder(
      [
        "forge | SIGTERM received, stopping", "forge | SIGTERM received again, killing",
        "forge | sending SIGKILL to web.1 (pid \(pid))", "web.1 | terminated by SIGKILL",
      ], in: forge)
  }

  func testSIGINTThenSIGTERMAlsoKillsAtOnce() throws {
    let project = try makeProject(["Procfile": "web: exec ./stubborn.sh\n", "stubborn.sh": HelperScripts.ignoresTerm])
    let forge = try launch(["start", "-t", "30"], in: project)
    try forge.waitForLine(containing: "ready", from: "web.1")
    forge.send(SIGINT)
    try forge.waitForLine(containing: "SIGINT received, stopping", from: "forge")
    forge.send(SIGTERM)
    XCTAssertEqual(try forge.waitForExit(timeout: 10), 128 + SIGKILL, forge.transcript())
  }

  // MARK: - Background children and reaping

  func testBackgroundGrandchildIsGoneAfterShutdown() throws {
    let project = try makeProject([
      "Procfile": "web: exec ./spawner.sh\n", "spawner.sh": HelperScripts.backgroundChild,
    ])
    let forge = try launch(["start"], in: project)
    let line = try forge.waitForLine(containing: "bg=", from: "web.1")
    try forge.waitForLine(containing: "ready", from: "web.1")
    let background = try XCTUnwrap(HelperScripts.pid("bg", in: line))
    XCTAssertTrue(ProcFS.isAlive(background))
    forge.send(SIGTERM)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript())
    XCTAssertTrue(eventually(timeout: 5) { !ProcFS.isAlive(background) }, "background sleep \(background) survived")
    XCTAssertEqual(forge.markedProcesses(), [], "processes left behind")
  }

  func testBackgroundChildIgnoringSIGTERMIsKilledAfterTheTimeout() throws {
    let project = try makeProject([
      "Procfile": "web: exec ./spawner.sh\n", "spawner.sh": HelperScripts.stubbornBackgroundChild,
    ])
    let forge = try launch(["start", "-t", "1"], in: project)
    let line = try forge.waitForLine(containing: "bg=", from: "web.1")
    try forge.waitForLine(containing: "ready", from: "web.1")
    let background = try XCTUnwrap(HelperScripts.pid("bg", in: line))
    let sent = Date()
    forge.send(SIGTERM)
    XCTAssertEqual(try forge.waitForExit(), 128 + SIGKILL, forge.transcript())
    XCTAssertLessThan(Date().timeIntervalSince(sent), 1 + 4)
    XCTAssertTrue(forge.stdout.text.contains("sending SIGKILL to web.1"), forge.transcript())
    XCTAssertTrue(eventually(timeout: 5) { !ProcFS.isAlive(background) }, "background process \(background) survived")
    XCTAssertEqual(forge.markedProcesses(), [], "processes left behind")
  }

  func testBackgroundChildOfAnExitedProcessIsStoppedWhenTheFormationEnds() throws {
    let project = try makeProject([
      "Procfile": "web: exec ./service.sh\nworker: sleep 600 & echo \"bg=$!\"; exit 0\n",
      "service.sh": HelperScripts.service,
    ])
    let forge = try launch(["start"], in: project)
    let line = try forge.waitForLine(containing: "bg=", from: "worker.1")
    let background = try XCTUnwrap(HelperScripts.pid("bg", in: line))
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript())
    XCTAssertTrue(eventually(timeout: 5) { !ProcFS.isAlive(background) }, "background sleep \(background) survived")
    XCTAssertEqual(forge.markedProcesses(), [], "processes left behind")
  }

  func testEscapedProcessHoldingThePipeDoesNotDelayExit() throws {
    // setsid takes the sleep out of web.1's process group, so forge (not PID 1) neither stops
    // it nor waits for it; it still holds web.1's output pipe open.
    let project = try makeProject(["Procfile": "web: setsid sleep 600 & echo \"escaped=$!\"; echo bye\n"])
    let forge = try launch(["start"], in: project)
    XCTAssertEqual(try forge.waitForExit(timeout: 10), 0, forge.transcript())
    XCTAssertLessThan(forge.runningTime ?? 99, 3, "forge waited for a pipe held by an escaped process")
    XCTAssertEqual(forge.stderr.text, "", forge.transcript())
    XCTAssertEqual(Array(forge.lines(of: "web.1").suffix(2)), ["bye", "exited with code 0"], forge.transcript())
  }

  func testOrphansAreReapedNoZombies() throws {
    let script = """
      #!/bin/sh
      trap 'exit 0' TERM
      ( sleep 1 & echo "orphan=$!" )
      \(HelperScripts.idleSetup)
      echo ready
      \(HelperScripts.idleLoop)

      """
    let project = try makeProject(["Procfile": "web: exec ./orphans.sh\n", "orphans.sh": script])
    let forge = try launch(["start"], in: project)
    let line = try forge.waitForLine(containing: "orphan=", from: "web.1")
    try forge.waitForLine(containing: "ready", from: "web.1")
    let orphan = try XCTUnwrap(HelperScripts.pid("orphan", in: line))
    // Its parent, the subshell, exits at once: forge, a child subreaper, adopts it.
    XCTAssertTrue(
      eventually(timeout: 5) { ProcFS.stat(orphan).map { $0.ppid == forge.pid } ?? true },
      "orphan \(orphan) was not reparented to forge: \(String(describing: ProcFS.stat(orphan)))")
    // Once it exits, forge must reap it: no zombie stays behind.
    XCTAssertTrue(
      eventually(timeout: 5) { ProcFS.stat(orphan) == nil },
      "orphan \(orphan) not reaped: \(String(describing: ProcFS.stat(orphan)))")
    XCTAssertEqual(forge.zombieChildren(), [], "zombie children of forge")
    XCTAssertTrue(forge.isRunning, "an orphan's exit does not end the formation")
    forge.send(SIGTERM)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript())
  }

  func testExitedProcessesAreReapedWhileOthersRun() throws {
    let project = try makeProject([
      "Procfile": "web: exec ./stubborn.sh\nworker: \(HelperScripts.waitFor("web.1")); exit 0\n",
      "stubborn.sh": HelperScripts.ignoresTerm,
    ])
    let forge = try launch(["start", "-t", "2"], in: project)
    try forge.waitForLine(containing: "ready", from: "web.1")
    try forge.waitForLine(containing: "exited with code 0", from: "worker.1")
    // forge is now in its grace period, waiting for web.1: worker.1 must already be reaped.
    XCTAssertTrue(forge.isRunning)
    XCTAssertTrue(eventually(timeout: 2) { forge.zombieChildren().isEmpty }, "zombies: \(forge.zombieChildren())")
    XCTAssertEqual(try forge.waitForExit(), 0, "the formation ended with worker.1's status\n\(forge.transcript())")
  }

  // MARK: - Forwarded signals

  func testSIGHUPAndSIGUSR1AreForwardedToProcesses() throws {
    let project = try makeProject([
      "Procfile": "web: exec ./service.sh\nworker: exec ./service.sh\n", "service.sh": HelperScripts.service,
    ])
    let forge = try launch(["start"], in: project)
    try forge.waitForLine(containing: "ready", from: "web.1")
    try forge.waitForLine(containing: "ready", from: "worker.1")
    forge.send(SIGHUP)
    try forge.waitForLine(containing: "forwarding SIGHUP to all processes", from: "forge")
    try forge.waitForLine(containing: "got HUP", from: "web.1")
    try forge.waitForLine(containing: "got HUP", from: "worker.1")
    forge.send(SIGUSR1)
    try forge.waitForLine(containing: "got USR1", from: "web.1")
    try forge.waitForLine(containing: "got USR1", from: "worker.1")
    forge.send(SIGUSR2)
    try forge.waitForLine(containing: "got USR2", from: "web.1")
    XCTAssertTrue(forge.isRunning, "forwarded signals do not stop forge")
    XCTAssertFalse(forge.stdout.text.contains("sending SIGTERM"), forge.transcript())
    forge.send(SIGTERM)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript())
  }

  // MARK: - Broken stdout

  func testClosedStdoutDoesNotStopSupervision() throws {
    let chatty = """
      #!/bin/sh
      trap 'touch stopped; exit 0' TERM
      i=0
      while :; do echo "tick $i"; i=$((i+1)); sleep 0.05; done

      """
    let project = try makeProject(["Procfile": "web: exec ./chatty.sh\n", "chatty.sh": chatty])
    let forge = try launch(["start"], in: project, stdout: .closeAfterLines(1))
    try forge.waitForLine(containing: "no more log output, still supervising", in: \.stderr)
    XCTAssertTrue(forge.isRunning, "forge keeps running without stdout\n\(forge.transcript())")
    XCTAssertFalse(project.exists("stopped"))
    forge.send(SIGTERM)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript())
    XCTAssertTrue(project.exists("stopped"), "web.1 got its SIGTERM")
    let complaints = forge.stderr.lines.filter { $0.contains("no more log output") }
    XCTAssertEqual(complaints.count, 1, "said once: \(forge.stderr.lines)")
    XCTAssertEqual(forge.markedProcesses(), [])
  }

  func testStdoutClosedAtStartDoesNotStopSupervision() throws {
    let project = try makeProject(["Procfile": "web: exec ./service.sh\n", "service.sh": HelperScripts.service])
    let forge = try launch(["start"], in: project, stdout: .closed)
    XCTAssertTrue(
      eventually(timeout: 10) { project.exists("ready-web.1") }, "web.1 never started\n\(forge.transcript())")
    XCTAssertTrue(forge.isRunning, forge.transcript())
    forge.send(SIGTERM)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript())
    XCTAssertEqual(forge.markedProcesses(), [])
    XCTAssertLessThanOrEqual(
      forge.stderr.lines.filter { $0.contains("no more log output") }.count, 1,
      "said at most once: \(forge.stderr.lines)")
  }

  func testStoppedProcessIsContinuedAndStopsGracefully() throws {
    let project = try makeProject(["Procfile": "web: exec ./service.sh\n", "service.sh": HelperScripts.service])
    let forge = try launch(["start", "-t", "5"], in: project)
    let ready = try forge.waitForLine(containing: "ready", from: "web.1")
    let pid = try XCTUnwrap(HelperScripts.pid("pid", in: ready))
    kill(pid, SIGSTOP)
    XCTAssertTrue(eventually(timeout: 5) { ProcFS.stat(pid)?.state == "T" }, "web.1 did not stop")
    let sent = Date()
    forge.send(SIGTERM)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript())
    XCTAssertLessThan(
      Date().timeIntervalSince(sent), 4, "forge waited for the stopped process instead of continuing it")
    XCTAssertTrue(forge.lines(of: "web.1").contains("got TERM"), forge.transcript())
    XCTAssertFalse(forge.stdout.text.contains("SIGKILL"), forge.transcript())
  }
}
