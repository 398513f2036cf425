import Foundation
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// When forge itself dies (README, "When forge itself dies"): its processes get their stop
/// signal from the kernel, the next `forge start`, `forge stop` and `forge ps` find what it left
/// running from `.forge.state` and never touch a reused pid, a closed terminal is a graceful
/// stop, and `forge stop` reports forge's own exit status.
final class CrashSafetyTests: ForgeControlTestCase {
  /// A non-`exec` grandchild: the instance's shell runs this script, which prints its pid and
  /// becomes `sleep`, so it outlives the shell when forge dies.
  private let nap = """
    #!/bin/sh
    echo "sleeping pid=$$"
    exec sleep 300

    """

  /// Writes the name of the signal that stopped it to `stopped-$PS` (`hup-$PS` for SIGHUP).
  private let recordsStop = """
    #!/bin/sh
    trap 'echo TERM > "stopped-$PS"; exit 0' TERM
    trap 'echo INT > "stopped-$PS"; exit 0' INT
    trap 'echo HUP > "hup-$PS"; exit 0' HUP
    \(HelperScripts.idleSetup)
    echo "ready pid=$$"
    \(HelperScripts.idleLoop)

    """

  /// A formation with a non-`exec` command (a.1, which leaves `sleep` behind), an `exec` script
  /// and an `exec` program. Returns forge and the pid of a.1's grandchild, once every instance
  /// is running and recorded in the state file.
  private func startCrashableFormation(in project: ForgeProject) throws -> (ForgeProcess, pid_t) {
    try project.write("nap.sh", nap)
    try project.write("service.sh", HelperScripts.service)
    try project.write("Procfile", "a: ./nap.sh; echo x\nb: exec ./service.sh\nc: exec sleep 300\n")
    let forge = try launch(["start", "-t", "3"], in: project)
    let line = try forge.waitForLine(containing: "sleeping pid=", from: "a.1")
    let grandchild = try XCTUnwrap(HelperScripts.pid("pid", in: line))
    try forge.waitForLine(containing: "ready pid=", from: "b.1")
    try forge.waitForLine(containing: "started with pid", from: "c.1")
    XCTAssertTrue(project.exists(".forge.state"), forge.transcript())
    // The grandchild's own comm once it has become sleep (it says its pid just before).
    XCTAssertTrue(eventually(timeout: 5) { CrashSafety.command(of: grandchild) == "sleep" })
    return (forge, grandchild)
  }

  /// SIGKILLs forge; every direct child of it must be gone within 1 s.
  private func crash(_ forge: ForgeProcess, file: StaticString = #filePath, line: UInt = #line) throws {
    let children = forge.children().filter { $0.state != "Z" }.map(\.pid)
    XCTAssertEqual(children.count, 3, "a.1, b.1, c.1\n\(forge.transcript())", file: file, line: line)
    forge.send(SIGKILL)
    let gone = eventually(timeout: 1, interval: 0.01) { !children.contains(where: ProcFS.isAlive) }
    let left = children.filter(ProcFS.isAlive).map { "\($0) (\(ProcFS.commandLine($0)))" }
    XCTAssertTrue(gone, "direct children alive 1 s after kill -9: \(left)", file: file, line: line)
    XCTAssertEqual(try forge.waitForExit(), 128 + SIGKILL, file: file, line: line)
  }

  // MARK: - kill -9 and the next forge

  func testKilledForgeTakesItsChildrenAlongAndTheNextStartStopsTheGrandchildren() throws {
    let project = try makeProject()
    let (dead, grandchild) = try startCrashableFormation(in: project)
    try crash(dead)
    XCTAssertTrue(ProcFS.isAlive(grandchild), "the grandchild of a non-exec command is left behind")
    let leftover = "a.1 (pid \(grandchild), port 5000)"

    // ps names what is left.
    let ps = try runForge(["ps"], in: project)
    XCTAssertEqual(ps.status, 1, ps.stderr)
    XCTAssertEqual(
      ps.stderr,
      "forge: the forge that ran here (pid \(dead.pid)) has died; left running:\n  \(leftover): \(grandchild) (sleep)\n"
        + "(forge stop stops them; forge start stops them first)\n")

    // --keep-leftovers refuses, touching nothing.
    let refused = try runForge(["start", "--keep-leftovers"], in: project)
    XCTAssertEqual(refused.status, 1, refused.stderr)
    XCTAssertEqual(
      refused.stderr,
      "forge: leftovers from a forge that died (pid \(dead.pid)): \(leftover); not starting (--keep-leftovers)\n")
    XCTAssertEqual(refused.stdout, "")
    XCTAssertTrue(ProcFS.isAlive(grandchild), "--keep-leftovers stopped a leftover")

    // A plain start stops them first, then starts the formation.
    let forge = try launch(["start", "-t", "3"], in: project)
    try forge.waitForLine(containing: "sleeping pid=", from: "a.1")
    try forge.waitForLine(containing: "ready pid=", from: "b.1")
    let forgeLines = forge.lines(of: "forge")
    XCTAssertTrue(
      forgeLines.contains("leftovers from a forge that died (pid \(dead.pid)): \(leftover); stopping them"),
      forge.transcript())
    XCTAssertFalse(ProcFS.isAlive(grandchild), "the leftover was not stopped\n\(forge.transcript())")
    let told = try XCTUnwrap(forge.stdout.lines.firstIndex { $0.contains("leftovers from a forge that died") })
    let started = try XCTUnwrap(forge.stdout.lines.firstIndex { $0.contains("started with pid") })
    XCTAssertLessThan(told, started, "the formation started before the leftovers were stopped")
    XCTAssertFalse(forgeLines.contains { $0.hasPrefix("still there") }, forge.transcript())
    forge.send(SIGTERM)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript())
    XCTAssertFalse(project.exists(".forge.state"), "removed at a clean exit")
  }

  func testStopAfterACrashStopsTheLeftoversAndExitsZero() throws {
    let project = try makeProject()
    let (dead, grandchild) = try startCrashableFormation(in: project)
    try crash(dead)
    XCTAssertTrue(ProcFS.isAlive(grandchild))

    let stop = try runForge(["stop"], in: project)
    XCTAssertEqual(stop.status, 0, stop.stderr)
    let leftover = "a.1 (pid \(grandchild), port 5000)"
    XCTAssertEqual(stop.stdout, "stopped what a forge that died (pid \(dead.pid)) left running: \(leftover)\n")
    XCTAssertEqual(stop.stderr, "")
    XCTAssertFalse(ProcFS.isAlive(grandchild), "forge stop left the grandchild running")
    XCTAssertFalse(project.exists(".forge.state"))
    XCTAssertFalse(project.exists(".forge.sock"), "the dead forge's socket goes with its state")

    let again = try runForge(["stop"], in: project)
    XCTAssertEqual(again.status, 0, again.stderr)
    XCTAssertEqual(again.stdout, "no forge running\n")
    let ps = try runForge(["ps"], in: project)
    XCTAssertEqual(ps.status, 1)
    XCTAssertFalse(ps.stderr.contains("died"), ps.stderr)
  }

  /// A killed forge whose parent has not reaped it (a zombie) is dead all the same: `forge stop`
  /// stops what it left running.
  func testAKilledForgeNotYetReapedCountsAsDead() throws {
    let project = try makeProject(["Procfile": "a: ./nap.sh; echo x\n", "nap.sh": nap])
    let forge = try ForgeHarness.forgeBinary()
    // A parent that never reaps: forge's output is the wrapper's, its pid said first.
    let wrapper = try launchProgram(
      "/usr/bin/python3",
      [
        "-c",
        "import subprocess, signal, sys; p = subprocess.Popen(sys.argv[1:]); "
          + "print(f'forge-pid={p.pid}', flush=True); signal.pause()",
        forge, "start", "-t", "3",
      ], in: project)
    let grandchild = try XCTUnwrap(
      HelperScripts.pid("pid", in: try wrapper.waitForLine(containing: "sleeping pid=", from: "a.1")))
    let dead = try XCTUnwrap(HelperScripts.pid("forge-pid", in: try wrapper.waitForLine(containing: "forge-pid=")))
    XCTAssertTrue(eventually(timeout: 5) { project.exists(".forge.state") })
    kill(dead, SIGKILL)
    XCTAssertTrue(eventually(timeout: 5) { ProcFS.stat(dead)?.state == "Z" }, "forge \(dead) is no zombie")

    let stop = try runForge(["stop"], in: project)
    XCTAssertEqual(stop.status, 0, stop.stderr)
    XCTAssertEqual(
      stop.stdout, "stopped what a forge that died (pid \(dead)) left running: a.1 (pid \(grandchild), port 5000)\n")
    XCTAssertFalse(ProcFS.isAlive(grandchild), "forge stop left the grandchild running")
  }

  // MARK: - A reused pid

  func testAReusedPidOrGroupIsNeverSignalled() throws {
    let project = try makeProject([
      "Procfile": "web: exec ./service.sh\n", "service.sh": HelperScripts.service,
      // Notes every signal forge could send a leftover: the stop signal, SIGCONT, SIGINT.
      "victim.sh": """
      #!/bin/sh
      trap 'echo TERM >> signalled' TERM
      trap 'echo CONT >> signalled' CONT
      trap 'echo INT >> signalled' INT
      \(HelperScripts.idleSetup)
      echo "ready pid=$$"
      \(HelperScripts.idleLoop)

      """,
    ])
    // An unrelated process leading its own group, holding the pid and group forge will read.
    let victim = try launchProgram(project.path("victim.sh"), [], in: project)
    try victim.waitForLine(containing: "ready pid=")
    XCTAssertEqual(ProcFS.stat(victim.pid)?.pgrp, victim.pid)
    // A group whose leader has exited; its member started before the recorded start time.
    let orphanGroup = try launchProgram("/bin/sh", ["-c", "sleep 300 >/dev/null 2>&1 & echo \"bg=$!\""], in: project)
    let member = try XCTUnwrap(HelperScripts.pid("bg", in: try orphanGroup.waitForLine(containing: "bg=")))
    XCTAssertEqual(try orphanGroup.waitForExit(), 0)
    XCTAssertEqual(ProcFS.stat(member)?.pgrp, orphanGroup.pid)

    let victimStart = try XCTUnwrap(CrashSafety.startTime(of: victim.pid))
    let memberStart = try XCTUnwrap(CrashSafety.startTime(of: member))
    let state = """
      {"forge":{"pid":\(victim.pid),"start":\(victimStart - 1)},"instances":[\
      {"name":"web.1","pid":\(victim.pid),"group":\(victim.pid),"start":\(victimStart - 1),"port":5000,\
      "stop_signal":15},\
      {"name":"worker.1","pid":\(orphanGroup.pid),"group":\(orphanGroup.pid),"start":\(memberStart + 1),\
      "port":5100,"stop_signal":15}]}

      """
    try project.write(".forge.state", state)

    let ps = try runForge(["ps"], in: project)
    XCTAssertEqual(ps.status, 1)
    XCTAssertFalse(ps.stderr.contains("left running"), "a reused pid taken for a leftover: \(ps.stderr)")

    let forge = try launch(["start", "-t", "3"], in: project)
    try forge.waitForLine(containing: "ready pid=", from: "web.1")
    XCTAssertFalse(forge.stdout.text.contains("leftovers"), forge.transcript())
    try control(["stop"], in: project)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript())

    // forge stop with no forge running reads the same state and touches nothing either.
    try project.write(".forge.state", state)
    let stop = try runForge(["stop"], in: project)
    XCTAssertEqual(stop.status, 0, stop.stderr)
    XCTAssertEqual(stop.stdout, "no forge running\n")
    XCTAssertFalse(project.exists(".forge.state"), "a state file naming nothing of ours is dropped")

    XCTAssertTrue(victim.isRunning, "the process holding a reused pid was killed\n\(victim.transcript())")
    XCTAssertNil(project.read("signalled"), "the process holding a reused pid was signalled")
    XCTAssertTrue(ProcFS.isAlive(member), "the member of a reused group was killed")
  }

  // MARK: - A closed terminal

  func testClosingTheTerminalStopsTheFormationWithItsStopSignals() throws {
    let python = try Readiness.requirePython()
    let project = try makeProject([
      "Procfile": "web: exec ./records-stop.sh\nworker: exec ./records-stop.sh\n",
      "records-stop.sh": recordsStop,
      // forge as the session leader of a new terminal (pty.fork: setsid, the terminal as its
      // controlling terminal and as stdin, stdout and stderr); its output is copied until N
      // "ready" lines, then the terminal is closed (hung up) and forge's status told.
      "pty-driver.py": """
      import os, pty, sys
      binary, wanted, arguments = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
      pid, primary = pty.fork()
      if pid == 0:
          os.execv(binary, [binary] + arguments)
      pending, ready = b"", 0
      while ready < wanted:
          try:
              chunk = os.read(primary, 4096)
          except OSError:
              break
          if not chunk:
              break
          pending += chunk
          while b"\\n" in pending:
              line, pending = pending.split(b"\\n", 1)
              text = line.decode(errors="replace").rstrip("\\r")
              print(text, flush=True)
              ready += "ready pid=" in text
      os.close(primary)
      print("hung up", flush=True)
      _, status = os.waitpid(pid, 0)
      print("forge exited %d" % os.waitstatus_to_exitcode(status), flush=True)

      """,
    ])
    let driver = try launchProgram(
      python,
      [
        "pty-driver.py", try ForgeHarness.forgeBinary(), "2", "start", "-t", "5", "--no-color",
        "--stop-signal", "worker=SIGINT",
      ], in: project)
    try driver.waitForLine(containing: "hung up")
    let exited = try driver.waitForLine(containing: "forge exited")
    XCTAssertEqual(exited, "forge exited 0", driver.transcript())
    XCTAssertEqual(try driver.waitForExit(), 0)
    XCTAssertEqual(project.read("stopped-web.1"), "TERM\n", "web.1 was not stopped with SIGTERM")
    XCTAssertEqual(project.read("stopped-worker.1"), "INT\n", "worker.1 was not stopped with its SIGINT")
    XCTAssertNil(project.read("hup-web.1"), "the terminal's SIGHUP was forwarded to web.1")
    XCTAssertNil(project.read("hup-worker.1"), "the terminal's SIGHUP was forwarded to worker.1")
  }

  // MARK: - forge stop

  func testStopReportsForgesExitStatusAndIsIdempotent() throws {
    let project = try makeProject(["Procfile": "web: exec ./stubborn.sh\n", "stubborn.sh": HelperScripts.ignoresTerm])
    let forge = try launch(["start", "-t", "1"], in: project)
    try forge.waitForLine(containing: "ready pid=", from: "web.1")
    let stop = try runForge(["stop"], in: project)
    XCTAssertEqual(stop.status, 128 + SIGKILL, stop.stderr)
    XCTAssertEqual(stop.stdout, "stopped\n")
    XCTAssertEqual(try forge.waitForExit(), 128 + SIGKILL, forge.transcript())
    XCTAssertTrue(forge.stdout.text.contains("sending SIGKILL to web.1"), forge.transcript())

    let again = try runForge(["stop"], in: project)
    XCTAssertEqual(again.status, 0, again.stderr)
    XCTAssertEqual(again.stdout, "no forge running\n")
    XCTAssertEqual(again.stderr, "")
  }
}

/// /proc details the crash-safety tests compare with forge's state file.
enum CrashSafety {
  /// A process's start time in clock ticks since boot (/proc/PID/stat field 22), as forge
  /// records it.
  static func startTime(of pid: pid_t) -> Int? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
      let close = text.lastIndex(of: ")")
    else { return nil }
    let fields = text[text.index(after: close)...].split(separator: " ")
    return fields.count > 19 ? Int(fields[19]) : nil
  }

  /// /proc/PID/comm without the newline, or "" if gone.
  static func command(of pid: pid_t) -> String {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8) else { return "" }
    return text.trimmingCharacters(in: .newlines)
  }
}
