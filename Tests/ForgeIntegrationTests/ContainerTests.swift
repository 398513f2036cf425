import Foundation
import XCTest

/// forge as the one process of a container: PID 1 of its own PID namespace (`unshare --pid
/// --fork --mount-proc`), where it must reap every orphan, take signals from outside, sweep
/// escapees and exit with a meaningful status; the same checks as a child subreaper; and the
/// restart policies (`--restart`, `--max-restarts`, `--restart-window`, `--stop-signal`).
///
/// Tests named `…AsPID1` skip, saying why, where a PID namespace cannot be made; their
/// `…AsSubreaper` twins run everywhere.
final class ContainerTests: ForgeControlTestCase {
  // MARK: - Scripts

  /// Sleeps a moment, notes that it is done, exits.
  private let orphan = """
    #!/bin/sh
    sleep 0.1
    echo done >> orphans.done
    exit 0

    """

  /// `zombies.sh N POLLS`: starts N orphans (each in a subshell that exits at once, so its
  /// parent is gone), waits until all of them are done, then prints how many zombie children
  /// its parent ($PPID, the reaper under test) has, polling up to POLLS × 20 ms for that to
  /// reach 0. Then it idles until SIGTERM.
  private let zombies = """
    #!/bin/sh
    trap 'exit 0' TERM
    n=$1
    polls=$2
    rm -f orphans.done
    : > orphans.done
    i=0
    while [ $i -lt $n ]; do
      ( ./orphan.sh & )
      i=$((i+1))
    done
    echo "spawned $n orphans"
    i=0
    while [ "$(wc -l < orphans.done)" -lt $n ] && [ $i -lt 1000 ]; do sleep 0.02; i=$((i+1)); done
    echo "done=$(wc -l < orphans.done)"
    count() {
      cat /proc/[0-9]*/stat 2>/dev/null | awk -v p="$PPID" '$4 == p && $3 == "Z" { n++ } END { print n + 0 }'
    }
    z=$(count)
    i=0
    while [ "$z" -gt 0 ] && [ $i -lt $polls ]; do sleep 0.02; i=$((i+1)); z=$(count); done
    echo "zombies=$z"
    \(HelperScripts.idle)

    """

  private func zombieProject() throws -> ForgeProject {
    try makeProject([
      "Procfile": "web: exec ./service.sh\nzombies: exec ./zombies.sh 200 150\n",
      "service.sh": HelperScripts.service, "zombies.sh": zombies, "orphan.sh": orphan,
    ])
  }

  private func value(_ key: String, in line: String) throws -> Int {
    try XCTUnwrap(HelperScripts.value(key, in: line).flatMap { Int($0) }, "no \(key)= in \(line)")
  }

  private func starts(of instance: String, in forge: ForgeProcess) -> [String] {
    forge.lines(of: instance).filter { $0.hasPrefix("started with pid ") }
  }

  // MARK: - Reaping orphans

  private func checkNoZombiesAfterOrphansExit(_ mode: SupervisorMode) throws {
    let project = try zombieProject()
    let forge = try startFormation(["-t", "2"], in: project, mode: mode)
    let done = try forge.process.waitForLine(containing: "done=", from: "zombies.1", timeout: 30)
    XCTAssertEqual(try value("done", in: done), 200, "every orphan ran\n\(forge.process.transcript())")
    let line = try forge.process.waitForLine(containing: "zombies=", from: "zombies.1", timeout: 15)
    XCTAssertEqual(try value("zombies", in: line), 0, "forge (\(mode)) left zombies\n\(forge.process.transcript())")
    XCTAssertEqual(ProcFS.zombieChildren(of: forge.forgePid), [], "zombie children of forge, seen from outside")
    XCTAssertTrue(forge.process.isRunning, "orphans exiting do not end the formation")
    forge.send(SIGTERM)
    XCTAssertEqual(try forge.process.waitForExit(), 0, forge.process.transcript())
  }

  func testNoZombiesAfter200OrphansExitAsPID1() throws {
    try checkNoZombiesAfterOrphansExit(.pid1)
  }

  func testNoZombiesAfter200OrphansExitAsSubreaper() throws {
    try checkNoZombiesAfterOrphansExit(.subreaper)
  }

  /// The positive control for the PID 1 test: under a PID 1 that never reaps (`sleep`), the
  /// same detector does count every orphan as a zombie.
  func testZombieDetectorSeesZombiesUnderANonReapingPID1() throws {
    try PIDNamespace.skipUnlessAvailable()
    let project = try makeProject(["zombies.sh": zombies, "orphan.sh": orphan])
    let control = try launchProgram(
      PIDNamespace.unshare, PIDNamespace.arguments + ["/bin/sh", "-c", "./zombies.sh 200 25 & exec sleep 60"],
      in: project)
    let line = try control.waitForLine(containing: "zombies=", timeout: 30)
    XCTAssertEqual(try value("zombies", in: line), 200, control.transcript())
  }

  /// The positive control for the subreaper test: a child subreaper that never reaps (Python
  /// sleeping after prctl) ends up with every orphan as a zombie, and the detector says so.
  func testZombieDetectorSeesZombiesUnderANonReapingSubreaper() throws {
    guard let python = ForgeHarness.which("python3") else { throw XCTSkip("python3 is not installed") }
    let project = try makeProject(["zombies.sh": zombies, "orphan.sh": orphan])
    let program = """
      import ctypes, subprocess, time
      ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
      subprocess.Popen(["./zombies.sh", "200", "25"])
      time.sleep(60)
      """
    let control = try launchProgram(python, ["-c", program], in: project)
    let line = try control.waitForLine(containing: "zombies=", timeout: 30)
    XCTAssertEqual(try value("zombies", in: line), 200, control.transcript())
    XCTAssertEqual(ProcFS.zombieChildren(of: control.pid).count, 200)
  }

  /// 300 orphans blocked on one FIFO are released at the moment a managed process exits 42:
  /// forge must still see that exit among all the others it reaps.
  private func checkExitStatusSurvivesAReapingBurst(_ mode: SupervisorMode) throws {
    let burst = """
      #!/bin/sh
      n=300
      rm -rf go.fifo waiting; mkfifo go.fifo; mkdir waiting
      # This shell holds the FIFO open for writing: the orphans' reads block until it closes it.
      exec 4<>go.fifo
      i=0
      while [ $i -lt $n ]; do
        ( ./waiter.sh 4>&- & )
        i=$((i+1))
      done
      until [ "$(ls waiting | wc -l)" -ge $n ]; do sleep 0.02; done
      echo "$n orphans waiting"
      exec 4>&-
      exit 42

      """
    let waiter = """
      #!/bin/sh
      { touch "waiting/$$"; read -r _; } < go.fifo
      exit 0

      """
    let project = try makeProject([
      "Procfile": "web: exec ./service.sh\nburst: exec ./burst.sh\n", "service.sh": HelperScripts.service,
      "burst.sh": burst, "waiter.sh": waiter,
    ])
    let forge = try startFormation(["-t", "2"], in: project, mode: mode)
    try forge.process.waitForLine(containing: "300 orphans waiting", from: "burst.1", timeout: 30)
    XCTAssertEqual(try forge.process.waitForExit(timeout: 30), 42, forge.process.transcript())
    XCTAssertEqual(forge.process.lines(of: "burst.1").last, "exited with code 42", forge.process.transcript())
    XCTAssertTrue(
      forge.process.lines(of: "forge").contains("sending SIGTERM to all processes"), forge.process.transcript())
  }

  func testExitStatusSurvivesAReapingBurstAsPID1() throws {
    try checkExitStatusSurvivesAReapingBurst(.pid1)
  }

  func testExitStatusSurvivesAReapingBurstAsSubreaper() throws {
    try checkExitStatusSurvivesAReapingBurst(.subreaper)
  }

  // MARK: - Signals from outside

  private func checkSIGTERMFromOutsideStopsPromptly(_ mode: SupervisorMode) throws {
    let project = try makeProject([
      "Procfile": "web: exec ./service.sh\nworker: exec ./service.sh\n", "service.sh": HelperScripts.service,
    ])
    let forge = try startFormation(["-t", "10"], in: project, mode: mode)
    try forge.process.waitForLine(containing: "ready", from: "web.1")
    try forge.process.waitForLine(containing: "ready", from: "worker.1")
    let sent = Date()
    forge.send(SIGTERM)
    XCTAssertEqual(try forge.process.waitForExit(), 0, forge.process.transcript())
    let elapsed = Date().timeIntervalSince(sent)
    XCTAssertLessThan(elapsed, 3, "forge (\(mode)) waited for nothing (grace period 10 s)")
    let text = forge.process.stdout.text
    for expected in [
      "forge    | SIGTERM received, stopping", "web.1    | got TERM", "worker.1 | got TERM",
      "web.1    | exited with code 0", "worker.1 | exited with code 0",
    ] {
      XCTAssertTrue(text.contains(expected), "missing \"\(expected)\"\n\(forge.process.transcript())")
    }
    XCTAssertFalse(text.contains("SIGKILL"), forge.process.transcript())
    XCTAssertTrue(eventually(timeout: 5) { forge.process.markedProcesses().isEmpty }, "processes left behind")
  }

  func testSIGTERMFromOutsideStopsEverythingPromptlyAsPID1() throws {
    try checkSIGTERMFromOutsideStopsPromptly(.pid1)
  }

  func testSIGTERMFromOutsideStopsEverythingPromptlyAsSubreaper() throws {
    try checkSIGTERMFromOutsideStopsPromptly(.subreaper)
  }

  private func checkSecondSIGTERMKillsAtOnce(_ mode: SupervisorMode) throws {
    let project = try makeProject(["Procfile": "web: exec ./stubborn.sh\n", "stubborn.sh": HelperScripts.ignoresTerm])
    let forge = try startFormation(["-t", "30"], in: project, mode: mode)
    try forge.process.waitForLine(containing: "ready", from: "web.1")
    forge.send(SIGTERM)
    try forge.process.waitForLine(containing: "SIGTERM received, stopping", from: "forge")
    let second = Date()
    forge.send(SIGTERM)
    XCTAssertEqual(try forge.process.waitForExit(), 128 + SIGKILL, forge.process.transcript())
    XCTAssertLessThan(Date().timeIntervalSince(second), 5, "the second SIGTERM did not kill at once")
    try forge.process.waitForLine(containing: "SIGTERM received again, killing", from: "forge", timeout: 1)
    try forge.process.waitForLine(containing: "terminated by SIGKILL", from: "web.1", timeout: 1)
  }

  func testSecondSIGTERMKillsAtOnceAsPID1() throws {
    try checkSecondSIGTERMKillsAtOnce(.pid1)
  }

  func testSecondSIGTERMKillsAtOnceAsSubreaper() throws {
    try checkSecondSIGTERMKillsAtOnce(.subreaper)
  }

  // MARK: - Escapees

  /// web.1 starts a process that leaves its session and group with setsid.
  private let escapingWeb = """
    #!/bin/sh
    trap 'echo "got TERM"; exit 0' TERM
    setsid ./escapee.sh &
    \(HelperScripts.idleSetup)
    echo "ready pid=$$"
    \(HelperScripts.idleLoop)

    """

  /// Notes a SIGTERM in the file escapee-got-term.
  private let escapee = """
    #!/bin/sh
    trap 'echo term > escapee-got-term; exit 0' TERM
    \(HelperScripts.idleSetup)
    echo "escapee pid=$$ session=$(cut -d ' ' -f 6 /proc/$$/stat)"
    \(HelperScripts.idleLoop)

    """

  private var escaping: [String: String] {
    ["Procfile": "web: exec ./web.sh\n", "web.sh": escapingWeb, "escapee.sh": escapee]
  }

  func testProcessThatEscapedWithSetsidIsSweptAsPID1() throws {
    let project = try makeProject(escaping)
    let forge = try startFormation(["-t", "5"], in: project, mode: .pid1)
    let ready = try forge.process.waitForLine(containing: "ready pid=", from: "web.1")
    let escapee = try forge.process.waitForLine(containing: "escapee pid=", from: "web.1")
    let escapeePid = try value("pid", in: escapee)
    XCTAssertEqual(try value("session", in: escapee), escapeePid, "the escapee leads a session of its own")
    XCTAssertNotEqual(escapeePid, try value("pid", in: ready))
    let sent = Date()
    forge.send(SIGTERM)
    XCTAssertEqual(try forge.process.waitForExit(), 0, forge.process.transcript())
    XCTAssertLessThan(Date().timeIntervalSince(sent), 4, "the sweep waits at most 2 s")
    // Only forge's sweep (kill(-1, SIGTERM)) can have sent the TERM it trapped: the kernel's
    // teardown of the namespace uses SIGKILL.
    XCTAssertEqual(project.read("escapee-got-term"), "term\n", "the escapee was swept\n\(forge.process.transcript())")
    XCTAssertEqual(forge.process.markedProcesses(), [])
  }

  /// Under another init forge never uses kill(-1), but as child subreaper it adopts the escapee
  /// once its parent is gone: at the end of the stop that child is named and stopped too.
  func testProcessThatEscapedWithSetsidIsStoppedAsSubreaper() throws {
    let project = try makeProject(escaping)
    let forge = try startFormation(["-t", "5"], in: project, mode: .subreaper)
    try forge.process.waitForLine(containing: "ready pid=", from: "web.1")
    let escapee = try forge.process.waitForLine(containing: "escapee pid=", from: "web.1")
    let escapeePid = pid_t(try value("pid", in: escapee))
    defer { kill(escapeePid, SIGKILL) }
    forge.send(SIGTERM)
    XCTAssertEqual(try forge.process.waitForExit(), 0, forge.process.transcript())
    XCTAssertFalse(ProcFS.isAlive(escapeePid), "the adopted escapee outlived forge")
    XCTAssertEqual(project.read("escapee-got-term"), "term\n", forge.process.transcript())
    XCTAssertTrue(
      forge.process.lines(of: "forge").contains {
        $0.hasPrefix("sending SIGTERM to processes left outside the formation: \(escapeePid) (")
      }, forge.process.transcript())
  }

  // MARK: - Exit status

  private func checkExitStatusTable(_ mode: SupervisorMode) throws {
    let cases: [(ending: String, status: Int32)] = [
      ("exit 3", 3), ("kill -KILL $$", 128 + SIGKILL), ("kill -TERM $$", 128 + SIGTERM),
    ]
    for (ending, expected) in cases {
      let project = try makeProject([
        "Procfile": "web: exec ./service.sh\nworker: \(HelperScripts.waitFor("web.1")); \(ending)\n",
        "service.sh": HelperScripts.service,
      ])
      let forge = try startFormation(["-t", "2"], in: project, mode: mode)
      XCTAssertEqual(
        try forge.process.waitForExit(), expected, "\(mode), worker: \(ending)\n\(forge.process.transcript())")
    }
    // A requested stop, by signal and by `forge stop`.
    let project = try makeProject(["Procfile": "web: exec ./service.sh\n", "service.sh": HelperScripts.service])
    let signalled = try startFormation(["-t", "2"], in: project, mode: mode)
    try signalled.process.waitForLine(containing: "ready", from: "web.1")
    signalled.send(SIGTERM)
    XCTAssertEqual(try signalled.process.waitForExit(), 0, "\(mode), SIGTERM\n\(signalled.process.transcript())")

    let stopped = try startFormation(["-t", "2"], in: project, mode: mode)
    try stopped.process.waitForLine(containing: "ready", from: "web.1", count: 1)
    let stop = try runForge(["stop"], in: project)
    XCTAssertEqual(stop.status, 0, stop.stderr)
    XCTAssertEqual(try stopped.process.waitForExit(), 0, "\(mode), forge stop\n\(stopped.process.transcript())")
  }

  func testExitStatusTableAsPID1() throws {
    try checkExitStatusTable(.pid1)
  }

  func testExitStatusTableAsSubreaper() throws {
    try checkExitStatusTable(.subreaper)
  }

  // MARK: - Signal state of children

  private func checkChildrenStartWithCleanSignalState(_ mode: SupervisorMode) throws {
    let script = """
      #!/bin/sh
      # grep is forked before this shell changes anything (it blocks every signal only while it
      # waits for a child): it shows the state forge gave the process.
      grep -E '^Sig(Blk|Ign):' /proc/self/status
      if [ ! -e crashed-once ]; then touch crashed-once; echo crashing; exit 1; fi
      exec ./service.sh

      """
    let project = try makeProject([
      "Procfile": "web: exec ./signals.sh\n", "signals.sh": script, "service.sh": HelperScripts.service,
    ])
    let forge = try startFormation(["-t", "2", "--restart", "on-failure"], in: project, mode: mode)
    // The first run crashes and is restarted by the policy; then `forge restart` restarts it.
    try forge.process.waitForLine(containing: "ready", from: "web.1")
    XCTAssertEqual(try control(["restart", "web.1"], in: project), "restarting web.1\n")
    try forge.process.waitForLine(containing: "ready", from: "web.1", count: 2)

    let lines = forge.process.lines(of: "web.1").filter { $0.hasPrefix("Sig") }
    XCTAssertEqual(lines.count, 6, "three spawns, two lines each\n\(forge.process.transcript())")
    for line in lines {
      XCTAssertTrue(line.hasSuffix("\t0000000000000000"), "\(mode): \(line)\n\(forge.process.transcript())")
    }
    // forge itself does block signals (it reads them from a signalfd): the check means something.
    let status = try String(contentsOfFile: "/proc/\(forge.forgePid)/status", encoding: .utf8)
    let blocked = status.split(separator: "\n").first { $0.hasPrefix("SigBlk:") }
    XCTAssertNotNil(blocked)
    XCTAssertFalse(blocked?.hasSuffix("0000000000000000") ?? true, "forge's own mask: \(blocked ?? "")")
    forge.send(SIGTERM)
    XCTAssertEqual(try forge.process.waitForExit(), 0, forge.process.transcript())
  }

  func testChildrenStartWithEmptySignalMaskAndNoIgnoredSignalsAsPID1() throws {
    try checkChildrenStartWithCleanSignalState(.pid1)
  }

  func testChildrenStartWithEmptySignalMaskAndNoIgnoredSignalsAsSubreaper() throws {
    try checkChildrenStartWithCleanSignalState(.subreaper)
  }

  // MARK: - Restart policies

  func testCrashLoopIsSpacedAndBackedOff() throws {
    let project = try makeProject(["Procfile": "web: echo boom; exit 1\n"])
    let forge = try launch(["start", "-t", "1", "--restart", "always", "--max-restarts", "100"], in: project)
    var seen: [Date] = []
    for n in 1...3 {
      try forge.waitForLine(containing: "started with pid", from: "web.1", count: n, timeout: 10)
      seen.append(Date())
    }
    try forge.waitForLine(containing: "restarting in 4 s", from: "web.1")
    let spawned = starts(of: "web.1", in: forge)
    XCTAssertEqual(spawned.count, 3, "bounded: no spawn beyond the schedule\n\(forge.transcript())")
    XCTAssertEqual(Set(spawned).count, 3, "each spawn is a new process")
    XCTAssertGreaterThanOrEqual(seen[1].timeIntervalSince(seen[0]), 0.9, "second spawn came too soon")
    XCTAssertGreaterThanOrEqual(seen[2].timeIntervalSince(seen[1]), 1.9, "the delay doubles")
    XCTAssertEqual(
      forge.lines(of: "web.1").filter { $0.hasPrefix("restarting in") },
      ["restarting in 1 s", "restarting in 2 s", "restarting in 4 s"])
    XCTAssertEqual(
      forge.lines(of: "web.1"),
      [
        spawned[0], "boom", "exited with code 1", "restarting in 1 s",
        spawned[1], "boom", "exited with code 1", "restarting in 2 s",
        spawned[2], "boom", "exited with code 1", "restarting in 4 s",
      ])
    // Stopped while it waits for its next spawn: nothing is started any more.
    forge.send(SIGTERM)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript())
    XCTAssertEqual(starts(of: "web.1", in: forge).count, 3)
  }

  func testRestartPolicyGivesUpAfterMaxRestarts() throws {
    let project = try makeProject([
      "Procfile": "web: exec ./service.sh\ncrash: exit 0\n", "service.sh": HelperScripts.service,
    ])
    let forge = try launch(
      ["start", "-t", "2", "--restart", "always", "--max-restarts", "2", "--restart-window", "30"], in: project)
    let status = try forge.waitForExit(timeout: 20)
    XCTAssertNotEqual(status, 0, forge.transcript())
    XCTAssertEqual(status, 1, "the crashing process exited 0, so forge exits 1")
    XCTAssertTrue(
      forge.lines(of: "forge").contains("crash failed: crash.1 exited 3 times within 30 s; giving up"),
      forge.transcript())
    XCTAssertEqual(starts(of: "crash.1", in: forge).count, 3, forge.transcript())
    XCTAssertEqual(forge.lines(of: "forge").filter { $0.contains("giving up") }.count, 1, "said once")
    XCTAssertTrue(forge.lines(of: "web.1").contains("got TERM"), "the rest was stopped gracefully")
    XCTAssertEqual(starts(of: "web.1", in: forge).count, 1, "nothing restarted during shutdown")
  }

  func testGivingUpExitsWithTheProcessStatus() throws {
    let project = try makeProject([
      "Procfile": "web: exec ./service.sh\ncrash: exit 5\n", "service.sh": HelperScripts.service,
    ])
    let forge = try launch(["start", "-t", "2", "--restart", "crash=always", "--max-restarts", "1"], in: project)
    XCTAssertEqual(try forge.waitForExit(timeout: 20), 5, forge.transcript())
    XCTAssertTrue(
      forge.lines(of: "forge").contains("crash failed: crash.1 exited 2 times within 60 s; giving up"),
      forge.transcript())
  }

  func testOnFailureDoesNotRestartASuccessfulExit() throws {
    let flaky = """
      #!/bin/sh
      if [ ! -e flaked ]; then touch flaked; echo flaking; exit 1; fi
      exec ./service.sh

      """
    let project = try makeProject([
      "Procfile": "web: exec ./service.sh\nonce: echo done; exit 0\nflaky: exec ./flaky.sh\n",
      "service.sh": HelperScripts.service, "flaky.sh": flaky,
    ])
    let forge = try launch(["start", "-t", "1", "--restart", "on-failure"], in: project)
    try forge.waitForLine(containing: "exited with code 0", from: "once.1")
    // A failure is restarted…
    try forge.waitForLine(containing: "restarting in 1 s", from: "flaky.1")
    try forge.waitForLine(containing: "ready", from: "flaky.1", timeout: 10)
    // …a success is not, and does not end the formation.
    let table = try processTable(in: project)
    XCTAssertEqual(table["once.1"]?.state, "exited", table.text)
    XCTAssertTrue(table["once.1"]?.isNull("next_retry") ?? false, table.text)
    XCTAssertEqual((table["once.1"]?.fields["exit_status"] as? NSNumber)?.intValue, 0, table.text)
    XCTAssertEqual(table["flaky.1"]?.state, "running", table.text)
    XCTAssertEqual(table["flaky.1"]?.restarts, 1, table.text)
    XCTAssertEqual(starts(of: "once.1", in: forge).count, 1, forge.transcript())
    XCTAssertFalse(forge.lines(of: "once.1").contains { $0.hasPrefix("restarting") }, forge.transcript())
    XCTAssertTrue(forge.isRunning)
    forge.send(SIGTERM)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript())
  }

  func testNoRestartDuringShutdown() throws {
    let project = try makeProject([
      "Procfile": "web: exec ./service.sh\ncrash: exit 1\n", "service.sh": HelperScripts.service,
    ])
    let forge = try launch(["start", "-t", "2", "--restart", "always"], in: project)
    try forge.waitForLine(containing: "ready", from: "web.1")
    // crash.1 is waiting for its restart, web.1 runs: then the formation is stopped.
    try forge.waitForLine(containing: "restarting in 1 s", from: "crash.1")
    forge.send(SIGTERM)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript())
    XCTAssertTrue(forge.lines(of: "web.1").contains("exited with code 0"), forge.transcript())
    XCTAssertEqual(starts(of: "web.1", in: forge).count, 1, "web.1 exited during shutdown and stayed down")
    XCTAssertEqual(starts(of: "crash.1", in: forge).count, 1, "crash.1's pending restart was dropped")
    XCTAssertEqual(forge.lines(of: "web.1").filter { $0.hasPrefix("restarting") }, [])
    XCTAssertEqual(forge.markedProcesses(), [])
  }

  func testStopSignalPerType() throws {
    let project = try makeProject([
      "Procfile": "web: exec ./service.sh\nworker: exec ./service.sh\n", "service.sh": HelperScripts.service,
    ])
    let forge = try launch(["start", "-t", "2", "-m", "web=2,worker=1", "--stop-signal", "web=SIGINT"], in: project)
    for name in ["web.1", "web.2", "worker.1"] { try forge.waitForLine(containing: "ready", from: name) }
    // Scaling down uses the type's stop signal too.
    XCTAssertEqual(try control(["scale", "web=1"], in: project), "web=1 worker=1\n")
    try forge.waitForLine(containing: "got INT", from: "web.2")
    forge.send(SIGTERM)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript())
    XCTAssertTrue(forge.lines(of: "web.1").contains("got INT"), forge.transcript())
    XCTAssertTrue(forge.lines(of: "worker.1").contains("got TERM"), forge.transcript())
    XCTAssertFalse(forge.lines(of: "web.1").contains("got TERM"), forge.transcript())
    XCTAssertFalse(forge.lines(of: "web.2").contains("got TERM"), forge.transcript())
  }
}
