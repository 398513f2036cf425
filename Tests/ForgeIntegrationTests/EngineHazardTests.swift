import Foundation
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// Hazards of the supervisor's engine, through the real binary: an instance that finishes while
/// another is being scaled away, a process that left the formation's groups and ignores its
/// stop signal (hazard 12), under another init and as PID 1, and a writer outside the
/// formation that keeps an instance's pipe busy at exit (hazard 1).
final class EngineHazardTests: ForgeControlTestCase {
  // MARK: - Scaling down while another instance completes

  /// `-m a=2 --restart on-failure`: a.2 is scaled away and ignores SIGTERM; meanwhile a.1
  /// exits 0 (done, not restarted). Once a.2 exits by itself, nothing is left: forge must exit
  /// 0 at once, not wait out the grace period, and leave nothing behind.
  func testInstanceCompletingWhileAnotherIsScaledAwayEndsPromptly() throws {
    // Each instance ignores SIGTERM, says it is ready, and exits 0 when the test lets it:
    // a.1 once the scale-down has been answered, a.2 once a.1 has exited.
    let command =
      "trap '' TERM; echo \"ready $PS\"; "
      + "if [ \"$PS\" = a.2 ]; then gate=a1-exited; else gate=scaled; fi; "
      + "until [ -e \"$gate\" ]; do sleep 0.02; done; echo \"leaving $PS\"; exit 0"
    let project = try makeProject(["Procfile": "a: \(command)\n"])
    let forge = try launch(["start", "--restart", "on-failure", "-m", "a=2", "-t", "8"], in: project)
    try forge.waitForLine(containing: "ready a.1", from: "a.1")
    try forge.waitForLine(containing: "ready a.2", from: "a.2")

    XCTAssertEqual(try control(["scale", "a=1"], in: project), "a=1\n")
    try project.write("scaled", "")
    try forge.waitForLine(containing: "exited with code 0", from: "a.1")
    let table = try processTable(in: project)
    XCTAssertEqual(table["a.2"]?.state, "stopping", table.text)
    XCTAssertEqual(table["a.1"]?.state, "exited", table.text)

    let released = Date()
    try project.write("a1-exited", "")
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript())
    let elapsed = Date().timeIntervalSince(released)
    XCTAssertLessThan(elapsed, 3, "forge lingered after a.2 had gone (grace period 8 s)\n\(forge.transcript())")
    XCTAssertTrue(forge.lines(of: "a.2").contains("leaving a.2"), forge.transcript())
    XCTAssertTrue(forge.lines(of: "a.2").contains("exited with code 0"), forge.transcript())
    XCTAssertFalse(forge.stdout.text.contains("SIGKILL"), forge.transcript())
    // The scale completed as the formation ended: told all the same (accepted, then done).
    XCTAssertTrue(
      forge.lines(of: "forge").contains { $0.hasPrefix("scale a=1 (requested by uid ") }, forge.transcript())
    XCTAssertTrue(forge.lines(of: "forge").contains("scale a=1: done, a=1"), forge.transcript())
    XCTAssertEqual(
      forge.lines(of: "a.1").filter { $0.hasPrefix("started with pid") }.count, 1,
      "a.1 completed and was not restarted\n\(forge.transcript())")
    XCTAssertEqual(forge.markedProcesses(), [], "processes left behind")
  }

  /// The same with the timing left to the processes: a.1 exits 0 after 1 s while a.2, scaled
  /// away at once, ignores SIGTERM and exits 0 after 3 s.
  func testInstanceCompletingWhileAnotherIsScaledAwayEndsPromptlyWithSleeps() throws {
    let command =
      "trap '' TERM; echo \"ready $PS\"; if [ \"$PS\" = a.2 ]; then sleep 3; else sleep 1; fi; exit 0"
    let project = try makeProject(["Procfile": "a: \(command)\n"])
    let forge = try launch(["start", "--restart", "on-failure", "-m", "a=2", "-t", "8"], in: project)
    try forge.waitForLine(containing: "ready a.1", from: "a.1")
    try forge.waitForLine(containing: "ready a.2", from: "a.2")
    XCTAssertEqual(try control(["scale", "a=1"], in: project), "a=1\n")
    try forge.waitForLine(containing: "exited with code 0", from: "a.2")
    let gone = Date()
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript())
    XCTAssertLessThan(
      Date().timeIntervalSince(gone), 2, "forge lingered after a.2 had gone (grace period 8 s)\n\(forge.transcript())")
    XCTAssertLessThan(forge.runningTime ?? 99, 7, "forge waited out the grace period\n\(forge.transcript())")
    XCTAssertTrue(forge.lines(of: "a.1").contains("exited with code 0"), forge.transcript())
    XCTAssertFalse(forge.stdout.text.contains("SIGKILL"), forge.transcript())
    XCTAssertEqual(forge.markedProcesses(), [], "processes left behind")
  }

  // MARK: - An escapee that ignores its stop signal (hazard 12)

  /// Started in the background by web.1: ignores SIGTERM, leaves web.1's process group, then
  /// says so (its pid as seen by forge) and sleeps.
  private let escapee = """
    import os, signal, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    os.setpgid(0, 0)
    print("escapee pid=%d pgrp=%d" % (os.getpid(), os.getpgrp()), flush=True)
    time.sleep(600)

    """

  /// web.1 itself is an ordinary process: SIGTERM ends it at once.
  private func escapeeProject() throws -> ForgeProject {
    guard ForgeHarness.which("python3") != nil else { throw XCTSkip("python3 is not installed") }
    return try makeProject([
      "Procfile": "web: python3 escapee.py & echo \"ready pid=$$\"; exec sleep 600\n",
      "escapee.py": escapee,
    ])
  }

  /// Waits for web.1 and its escapee; returns the escapee's pid as forge sees it.
  private func waitForEscapee(_ forge: ForgeProcess) throws -> pid_t {
    let ready = try forge.waitForLine(containing: "ready pid=", from: "web.1")
    let line = try forge.waitForLine(containing: "escapee pid=", from: "web.1")
    let pid = try XCTUnwrap(HelperScripts.pid("pid", in: line), line)
    XCTAssertEqual(HelperScripts.pid("pgrp", in: line), pid, "the escapee leads a group of its own")
    XCTAssertNotEqual(HelperScripts.pid("pid", in: ready), pid)
    return pid
  }

  /// The escapee was asked, then killed, and named both times, in that order.
  private func assertSwept(
    _ pid: pid_t, in forge: ForgeProcess, file: StaticString = #filePath, line: UInt = #line
  ) {
    let lines = forge.lines(of: "forge")
    let asked = lines.firstIndex { $0.hasPrefix("sending SIGTERM to processes left outside the formation: ") }
    let killed = lines.firstIndex { $0.hasPrefix("sending SIGKILL to processes left outside the formation: ") }
    guard let asked, let killed else {
      XCTFail("the escapee \(pid) was not named\n\(forge.transcript())", file: file, line: line)
      return
    }
    XCTAssertLessThan(asked, killed, forge.transcript(), file: file, line: line)
    for index in [asked, killed] {
      let named = lines[index].split(separator: ":", maxSplits: 1).last.map {
        $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
      }
      XCTAssertTrue(
        named?.contains("\(pid) (python3)") ?? false, "\"\(lines[index])\" does not name \(pid) (python3)",
        file: file, line: line)
    }
  }

  func testEscapeeIgnoringSIGTERMIsKilledAfterTheGracePeriodAsSubreaper() throws {
    let project = try escapeeProject()
    let forge = try launch(["start", "-t", "1"], in: project)
    let pid = try waitForEscapee(forge)
    defer { kill(pid, SIGKILL) }
    XCTAssertEqual(ProcFS.stat(pid)?.pgrp, pid)
    let sent = Date()
    forge.send(SIGTERM)
    XCTAssertEqual(try forge.waitForExit(), 128 + SIGKILL, "the escapee had to be SIGKILLed\n\(forge.transcript())")
    let elapsed = Date().timeIntervalSince(sent)
    XCTAssertGreaterThanOrEqual(elapsed, 0.9, "SIGKILL came before the grace period was over")
    XCTAssertLessThan(elapsed, 1 + 4, "SIGKILL came long after the grace period")
    assertSwept(pid, in: forge)
    XCTAssertTrue(forge.lines(of: "web.1").contains("terminated by SIGTERM"), forge.transcript())
    XCTAssertFalse(ProcFS.isAlive(pid), "the escapee \(pid) outlived forge")
    XCTAssertEqual(forge.markedProcesses(), [], "processes left behind")
  }

  func testForgeStopReturnsOnlyOnceTheEscapeeIsKilledAndForgeHasExited() throws {
    let project = try escapeeProject()
    let forge = try launch(["start", "-t", "1"], in: project)
    let pid = try waitForEscapee(forge)
    defer { kill(pid, SIGKILL) }
    let sent = Date()
    let stop = try runForge(["stop"], in: project)
    // Checked before anything else: forge and the escapee must be gone when `forge stop` returns.
    let forgeAlive = ProcFS.isAlive(forge.pid)
    let escapeeAlive = ProcFS.isAlive(pid)
    let elapsed = Date().timeIntervalSince(sent)
    XCTAssertEqual(stop.status, 128 + SIGKILL, "forge stop reports forge's own status\n\(stop.stderr)")
    XCTAssertEqual(stop.stdout, "stopped\n")
    XCTAssertFalse(forgeAlive, "forge still ran when `forge stop` returned\n\(forge.transcript())")
    XCTAssertFalse(escapeeAlive, "the escapee \(pid) still ran when `forge stop` returned")
    XCTAssertGreaterThanOrEqual(elapsed, 0.9, "`forge stop` returned before the grace period was over")
    XCTAssertEqual(try forge.waitForExit(), 128 + SIGKILL, forge.transcript())
    XCTAssertTrue(forge.lines(of: "forge").contains("stop request received, stopping"), forge.transcript())
    assertSwept(pid, in: forge)
    XCTAssertEqual(forge.markedProcesses(), [], "processes left behind")
  }

  func testEscapeeIgnoringSIGTERMIsKilledAfterTheGracePeriodAsPID1() throws {
    let project = try escapeeProject()
    let forge = try startFormation(["-t", "1"], in: project, mode: .pid1)
    // Its pid inside the namespace, as forge names it; and as seen from here.
    let inner = try waitForEscapee(forge.process)
    let outside = forge.process.markedProcesses().filter { ProcFS.commandLine($0).contains("escapee.py") }
    XCTAssertEqual(outside.count, 1, "the escapee, seen from outside: \(outside)")
    defer { for pid in outside { kill(pid, SIGKILL) } }
    let sent = Date()
    forge.send(SIGTERM)
    XCTAssertEqual(
      try forge.process.waitForExit(), 128 + SIGKILL, "the escapee had to be SIGKILLed\n\(forge.process.transcript())")
    let elapsed = Date().timeIntervalSince(sent)
    XCTAssertGreaterThanOrEqual(elapsed, 0.9, "SIGKILL came before the grace period was over")
    XCTAssertLessThan(elapsed, 1 + 4, "SIGKILL came long after the grace period")
    assertSwept(inner, in: forge.process)
    for pid in outside { XCTAssertFalse(ProcFS.isAlive(pid), "the escapee (\(pid) outside) outlived forge") }
    XCTAssertEqual(forge.process.markedProcesses(), [], "processes left behind")
  }

  // MARK: - A writer outside the formation (hazard 1)

  /// The line the writer outside repeats: 256 bytes with its newline, so `yes` writes whole
  /// pages and the pipe fills to 64 KiB (forge grows a pipe once a read takes 64 KiB).
  private let floodLine = String(repeating: "f", count: 255)

  /// forge's stdout goes through a slow reader (at most 64 KiB per 5 ms), so forge keeps
  /// stopping to wait for it; the flood lines are dropped there, the rest reaches the test.
  /// forge's status comes last on stderr as `forge-status=N`.
  private var drainProject: [String: String] {
    [
      "Procfile": "web: echo \"ready pid=$$\"; exec sleep 600\n",
      "run.sh": """
      #!/bin/sh
      forge=$1
      shift
      { "$forge" "$@"; echo "forge-status=$?" >&2; } | python3 consume.py

      """,
      "consume.py": """
      import os, sys, time
      rest = b""
      while True:
          chunk = os.read(0, 65536)
          if not chunk:
              break
          lines = (rest + chunk).split(b"\\n")
          rest = lines.pop()
          kept = [line for line in lines if b"| ffffffff" not in line]
          if kept:
              sys.stdout.buffer.write(b"\\n".join(kept) + b"\\n")
              sys.stdout.buffer.flush()
          time.sleep(0.005)
      sys.stdout.buffer.write(rest)

      """,
    ]
  }

  /// A formation whose web.1 has a writer outside forge's process tree (started by the test)
  /// that never stops, with a pipe of 1 MiB, more than forge reads between two waits for
  /// stdout: draining never finds it empty. Returns the pipeline, forge's pid and the writer.
  private func startFormationWithOutsideWriter() throws -> (run: ForgeProcess, forge: pid_t, writer: ForgeProcess) {
    guard ForgeHarness.which("python3") != nil else { throw XCTSkip("python3 is not installed") }
    let project = try makeProject(drainProject)
    let binary = try ForgeHarness.forgeBinary()
    let run = try launchProgram(project.path("run.sh"), [binary, "start", "-t", "2"], in: project)
    let ready = try run.waitForLine(containing: "ready pid=", from: "web.1")
    let web = try XCTUnwrap(HelperScripts.pid("pid", in: ready))
    let forge = try XCTUnwrap(
      run.markedProcesses().first { ProcFS.commandLine($0).hasPrefix("\(binary) start") }, run.transcript())
    let writer = try launchProgram("/bin/sh", ["-c", "exec yes \(floodLine) > /proc/\(web)/fd/1"], in: project)
    // forge grows a chatty pipe to 256 KiB, once; then the writer's side makes it 1 MiB.
    XCTAssertTrue(
      eventually(timeout: 10) { HazardProbe.stdoutPipeSize(of: web) == 256 << 10 },
      "forge did not grow the flooded pipe: \(HazardProbe.stdoutPipeSize(of: web) ?? -1)\n\(run.transcript())")
    let fd = open("/proc/\(web)/fd/1", O_WRONLY | O_NONBLOCK | O_CLOEXEC)
    XCTAssertGreaterThanOrEqual(fd, 0)
    XCTAssertEqual(fcntl(fd, ForgeHarness.setPipeSize, Int32(1 << 20)), 1 << 20, String(cString: strerror(errno)))
    close(fd)
    // The steady state: forge waits for stdout, the writer for room in the full pipe.
    XCTAssertTrue(
      eventually(timeout: 10) { ProcFS.isBlockedOnPipeWrite(writer.pid) },
      "the writer never filled the pipe: \(ProcFS.waitChannel(writer.pid))\n\(run.transcript())")
    return (run, forge, writer)
  }

  /// The `forge-status=N` line: forge has exited with N.
  private func waitForForgeStatus(_ run: ForgeProcess, timeout: TimeInterval) throws -> Int32? {
    let line = try run.waitForLine(containing: "forge-status=", in: \.stderr, timeout: timeout)
    return HelperScripts.pid("forge-status", in: line)
  }

  func testDrainingStopsAfterItsBoundWhenSomethingOutsideKeepsWriting() throws {
    let (run, forge, writer) = try startFormationWithOutsideWriter()
    defer { writer.killAll() }
    let sent = Date()
    kill(forge, SIGTERM)
    let status = try waitForForgeStatus(run, timeout: 20)
    let elapsed = Date().timeIntervalSince(sent)
    XCTAssertEqual(try run.waitForExit(), 0, run.transcript())
    XCTAssertEqual(status, 0, run.transcript())
    XCTAssertLessThan(elapsed, 12, "forge drained for more than its 5 s bound\n\(run.transcript())")
    XCTAssertTrue(
      run.lines(of: "forge").contains(
        "leaving the output of web.1 unread: something outside the formation keeps writing to it"),
      run.transcript())
    XCTAssertTrue(run.lines(of: "web.1").contains("terminated by SIGTERM"), run.transcript())
    XCTAssertFalse(run.stderr.text.contains("stdout took nothing"), run.transcript())
  }

  func testSecondSIGTERMWhileDrainingLeavesTheRestOfTheOutput() throws {
    let (run, forge, writer) = try startFormationWithOutsideWriter()
    defer { writer.killAll() }
    kill(forge, SIGTERM)
    // web.1's exit line is written in the round that found everything gone and began draining.
    try run.waitForLine(containing: "terminated by SIGTERM", from: "web.1")
    let second = Date()
    kill(forge, SIGTERM)
    XCTAssertEqual(try waitForForgeStatus(run, timeout: 10), 0, run.transcript())
    XCTAssertLessThan(Date().timeIntervalSince(second), 3, "the second SIGTERM did not end forge at once")
    XCTAssertEqual(try run.waitForExit(), 0, run.transcript())
    XCTAssertFalse(run.stdout.text.contains("SIGTERM received again, killing"), run.transcript())
    XCTAssertFalse(run.stdout.text.contains("leaving the output of web.1 unread"), run.transcript())
    XCTAssertTrue(
      run.stderr.text.contains("forge: SIGTERM received, leaving the rest of the output unwritten"), run.transcript())
  }

}
