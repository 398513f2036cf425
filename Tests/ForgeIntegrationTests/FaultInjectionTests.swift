import Foundation
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// forge under hostile conditions: too few descriptors, a huge descriptor limit, output that is
/// not text, pipes held open by grandchildren, floods, bursts of orphans, signals at random
/// moments of start-up, and a reader of its stdout that goes away. Each test runs the real
/// binary with real processes and synchronises on what forge prints.
final class FaultInjectionTests: ForgeControlTestCase {
  // MARK: - Descriptor exhaustion

  /// Descriptors forge needs before its first process: 0-2, its own stdout, the epoll
  /// instance, the signalfd and the control socket. With a limit of 20 and 16 instances (one
  /// pipe each, two while spawning), some spawns must fail with EMFILE.
  private let tightLimit = "ulimit -n 20"
  private let crowd = ["start", "-t", "1", "-m", "web=16", "--restart", "always"]

  private func crowdProject() throws -> ForgeProject {
    try makeProject(["Procfile": "web: exec ./service.sh\n", "service.sh": HelperScripts.service])
  }

  /// A formation that needs more descriptors than the hard limit allows is refused at start,
  /// naming the limit and the count, rather than failing spawn after spawn with EMFILE.
  func testFormationBeyondTheHardDescriptorLimitIsRefusedAtStart() throws {
    let project = try crowdProject()
    let forge = try launchForge(after: tightLimit, crowd, in: project)
    XCTAssertEqual(try forge.waitForExit(), 1, forge.transcript())
    XCTAssertTrue(
      forge.stderr.text.contains("the formation needs about 96 descriptors, above the hard limit of 20"),
      forge.stderr.text)
    XCTAssertFalse(forge.stdout.text.contains("started with pid"), forge.transcript())
  }

  /// At the descriptor limit a client of the control socket cannot be accepted (accept4 fails
  /// with EMFILE while the connection stays queued). forge must report that, not spin on a
  /// listener that stays readable, and still stop on SIGTERM.
  func testControlConnectionAtTheDescriptorLimitDoesNotMakeForgeSpin() throws {
    let project = try crowdProject()
    // 100 descriptors: enough for the formation (forge asks for 96), not for 100 clients more.
    let forge = try launchForge(after: "ulimit -n 100", crowd, in: project)
    _ = try forge.waitForLines("ready lines", count: 16) { $0.contains("| ready pid=") }
    // Clients that send nothing take the free descriptors until one cannot be accepted.
    var clients: [Int32] = []
    defer { for client in clients { close(client) } }
    for _ in 0..<100 {
      clients.append(try RawSocket.connect(project.path(".forge.sock")))
      if forge.lines(of: "forge").contains(where: { $0.hasPrefix("control socket: ") }) { break }
    }
    try forge.waitForLine(containing: "control socket: ", from: "forge")
    let ticksBefore = ProcUsage.cpuTicks(forge.pid) ?? 0
    let linesBefore = forge.lines(of: "forge").filter { $0.hasPrefix("control socket: ") }.count
    // A measuring window, not synchronisation: a busy loop shows as CPU time and log lines.
    Thread.sleep(forTimeInterval: 1)
    let ticks = (ProcUsage.cpuTicks(forge.pid) ?? 0) - ticksBefore
    let reports = forge.lines(of: "forge").filter { $0.hasPrefix("control socket: ") }
    XCTAssertLessThan(
      ticks, ProcUsage.ticksPerSecond / 4,
      "forge burnt \(ticks) ticks in 1 s with a connection it cannot accept (busy loop)")
    XCTAssertLessThanOrEqual(
      reports.count - linesBefore, 2,
      "\(reports.count) reports of the failed accept, e.g. \(reports.first ?? "")")
    XCTAssertTrue(forge.isRunning)
    forge.send(SIGTERM)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript(lastLines: 5))
  }

  /// A limit of 1,048,576 descriptors must not make spawning slow: forge closes inherited
  /// descriptors with close_range (addclosefrom_np), not one close per possible descriptor.
  /// A per-descriptor loop runs in the child between fork and exec, so it would show in each
  /// child's own CPU time (which exec keeps) and in the wall time of the spawns.
  func testHugeDescriptorLimitDoesNotSlowSpawning() throws {
    // 1,048,576 where permitted; otherwise the hard limit (a container may cap it, 20,000
    // here), which still shows a per-descriptor loop, if it is high enough to matter.
    let project = try makeProject(["Procfile": "web: exec sleep 600\n"])
    var huge = "ulimit -n 1048576"
    var probe = try runProgram("/bin/sh", ["-c", "\(huge) && ulimit -n"], in: project)
    if probe.status != 0 {
      huge = "ulimit -n \"$(ulimit -Hn)\""
      probe = try runProgram("/bin/sh", ["-c", "\(huge) && ulimit -n"], in: project)
    }
    let limit = Int(probe.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
    guard probe.status == 0, limit >= 16384 else {
      throw XCTSkip("cannot raise RLIMIT_NOFILE to at least 16384 here: \(probe.stdout) \(probe.stderr)")
    }
    let forge = try launchForge(after: huge, ["start", "-t", "1", "-m", "web=20"], in: project)
    try forge.waitForLine(containing: "release ", from: "forge")
    let began = Date()
    let lines = try forge.waitForLines("20 starts", count: 20) { $0.contains("| started with pid ") }
    let spawning = Date().timeIntervalSince(began)
    let pids = lines.compactMap { $0.split(separator: " ").last.flatMap { pid_t($0) } }
    XCTAssertEqual(pids.count, 20)
    let childTicks = pids.compactMap(ProcUsage.cpuTicks).reduce(0, +)
    print(
      "huge descriptor limit: 20 spawns in \(String(format: "%.2f", spawning)) s, children used \(childTicks) ticks")
    XCTAssertLessThan(spawning, 5, "20 spawns took \(spawning) s under a limit of \(limit) descriptors")
    XCTAssertLessThan(
      childTicks, ProcUsage.ticksPerSecond / 2,
      "the 20 children used \(childTicks) ticks of CPU before idling: a per-descriptor close loop?")
    forge.send(SIGTERM)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript())
  }

  // MARK: - Hostile output

  /// One line of just over 1 MiB with no newline, full of NUL, "\r", stray UTF-8 lead bytes and
  /// 0xFF: forge prints it in 64 KiB pieces, each with the prefix, and loses or changes no byte.
  /// At the same time a line of 8 MiB of plain text (also without newline): forge's memory must
  /// not grow with the length of a line (it buffers at most 64 KiB of a line per process).
  func testHugeBinaryLineWithoutNewlineIsPassedThroughInPiecesWithBoundedMemory() throws {
    let blob = RawOutput.hostileBytes(count: (1 << 20) + 4321)
    let bigSize = 8 << 20
    let wait = "until [ -e go ]; do sleep 0.01; done"
    let project = try makeProject([
      "Procfile": """
      web: exec ./service.sh
      blob: \(wait); exec cat blob.bin
      big: \(wait); head -c \(bigSize) /dev/zero | tr '\\0' x

      """,
      "service.sh": HelperScripts.service,
    ])
    try project.write("blob.bin", bytes: blob)
    let forge = try launch(["start", "-t", "1", "--restart", "on-failure"], in: project)
    try forge.waitForLine(containing: "ready", from: "web.1")
    let baseline = try XCTUnwrap(ProcUsage.statusBytes("VmHWM", of: forge.pid))
    try project.write("go", "")
    try forge.waitForLine(containing: "exited with code 0", from: "blob.1")
    try forge.waitForLine(containing: "exited with code 0", from: "big.1")
    // web.1 keeps forge alive: its peak resident size can be read now.
    let peak = try XCTUnwrap(ProcUsage.statusBytes("VmHWM", of: forge.pid))
    XCTAssertTrue(forge.isRunning)
    forge.send(SIGTERM)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript(lastLines: 5))

    let output = forge.stdout.bytes
    func data(of prefix: String) -> [ArraySlice<UInt8>] {
      RawOutput.lines(output, under: prefix).filter {
        !$0.starts(with: Array("started with pid ".utf8)) && !$0.elementsEqual(Array("exited with code 0".utf8))
      }
    }
    let pieces = data(of: "blob.1 | ")
    XCTAssertEqual(
      pieces.map(\.count), [Int](repeating: 65536, count: 16) + [4321], "64 KiB pieces, then the rest at the end")
    let joined = pieces.reduce(into: [UInt8]()) { $0 += $1 }
    XCTAssertEqual(joined.count, blob.count)
    if joined != blob {
      let at =
        zip(joined, blob).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(joined.count, blob.count)
      XCTFail("bytes changed, first difference at offset \(at)")
    }
    let big = data(of: "big.1  | ")
    XCTAssertEqual(big.count, bigSize / 65536, "the 8 MiB line in 64 KiB pieces")
    XCTAssertTrue(big.allSatisfy { $0.count == 65536 && !$0.contains { $0 != UInt8(ascii: "x") } })

    let growth = peak - baseline
    print("long lines: forge VmHWM \(baseline >> 10) KiB before, \(peak >> 10) KiB after")
    // About 2 MiB in a plain or ThreadSanitizer build. Under AddressSanitizer about 7.5 MiB:
    // its allocator, and the code pages forge dropped when it went idle coming back (3 MiB of
    // its larger executable). A forge that buffered a whole line would add 8 MiB more than
    // that: 10 MiB and more plain, 15 and more under AddressSanitizer.
    XCTAssertLessThan(
      growth, (ForgeBuild.isAddressSanitized ? 12 : 5) << 20,
      "forge's peak RSS grew by \(growth >> 10) KiB (from \(baseline >> 10) KiB) for lines of 1 and 8 MiB")
  }

  // MARK: - Pipes held open by grandchildren

  /// web exits 3 while a background child of it (in its group, ignoring SIGTERM) keeps the
  /// output pipe open: the exit is reported at once, not when the pipe closes, and the
  /// leftover is killed after the grace period, so shutdown does not hang.
  func testExitIsReportedAtOnceWhileAGrandchildHoldsThePipe() throws {
    let (forge, grandchild) = try exitWithStubbornGrandchild()
    XCTAssertEqual(try forge.waitForExit(timeout: 5), 3, forge.transcript())
    XCTAssertLessThan(forge.runningTime ?? 99, 4, "shutdown took the grace period and more")
    let lines = forge.lines(of: "forge")
    XCTAssertTrue(lines.contains { $0.hasPrefix("sending SIGKILL to what is left of web.1") }, forge.transcript())
    XCTAssertFalse(ProcFS.isAlive(grandchild), "the grandchild outlived forge")
  }

  /// The leftover group of web.1 gets one SIGKILL, and the log says so once: not as a kill of
  /// web.1's pid (that process is gone, reaped), nor twice for the group.
  func testKillOfALeftoverGroupIsReportedOnce() throws {
    let (forge, _) = try exitWithStubbornGrandchild()
    XCTAssertEqual(try forge.waitForExit(timeout: 5), 3, forge.transcript())
    let kills = forge.lines(of: "forge").filter { $0.hasPrefix("sending SIGKILL") }
    XCTAssertEqual(kills.count, 1, "\(kills)")
  }

  /// web.1 starts a grandchild that ignores SIGTERM and keeps web.1's output pipe open, then
  /// exits 3. Returns once forge has reported that exit (within 0.9 s, while the grandchild,
  /// checked, still lives), with the grandchild's pid.
  private func exitWithStubbornGrandchild() throws -> (ForgeProcess, pid_t) {
    // The grandchild says when its trap is set: a SIGTERM before that would end it early.
    let script = """
      #!/bin/sh
      sh -c 'trap "" TERM; touch grandchild-ready; exec sleep 600' &
      until [ -e grandchild-ready ]; do sleep 0.01; done
      echo "bg=$!"
      exit 3

      """
    let project = try makeProject(["Procfile": "web: exec ./bg.sh\n", "bg.sh": script])
    let forge = try launch(["start", "-t", "1"], in: project)
    let line = try forge.waitForLine(containing: "bg=", from: "web.1")
    let grandchild = try XCTUnwrap(HelperScripts.pid("bg", in: line))
    // Well before the grandchild is killed (grace period 1 s).
    try forge.waitForLine(containing: "exited with code 3", from: "web.1", timeout: 0.9)
    XCTAssertTrue(ProcFS.isAlive(grandchild), "the grandchild still holds the pipe")
    return (forge, grandchild)
  }

  /// The same with a grandchild that left the formation's process groups (setsid): forge does
  /// not wait for its end of the pipe, and stops it as an adopted orphan at the end.
  func testShutdownDoesNotHangOnAPipeHeldByAnEscapedGrandchild() throws {
    let script = """
      #!/bin/sh
      setsid sh -c 'touch escaped; exec sleep 600' &
      until [ -e escaped ]; do sleep 0.01; done
      echo "bg=$!"
      echo "half a line without newline" | tr -d '\\n'
      exit 3

      """
    let project = try makeProject(["Procfile": "web: exec ./bg.sh\n", "bg.sh": script])
    let forge = try launch(["start", "-t", "1"], in: project)
    let line = try forge.waitForLine(containing: "bg=", from: "web.1")
    let grandchild = try XCTUnwrap(HelperScripts.pid("bg", in: line))
    defer { kill(grandchild, SIGKILL) }
    try forge.waitForLine(containing: "exited with code 3", from: "web.1", timeout: 0.9)
    XCTAssertEqual(try forge.waitForExit(timeout: 5), 3, forge.transcript())
    XCTAssertLessThan(forge.runningTime ?? 99, 3, forge.transcript())
    XCTAssertFalse(ProcFS.isAlive(grandchild), "adopted by forge, so stopped at the end\n\(forge.transcript())")
    XCTAssertTrue(
      forge.lines(of: "forge").contains { $0.contains("left outside the formation: \(grandchild) (sleep)") },
      forge.transcript())
    XCTAssertTrue(
      forge.lines(of: "web.1").contains("half a line without newline"),
      "the partial line already written is not lost\n\(forge.transcript())")
  }

  // MARK: - Floods

  private func checkFloodStopsWithinGracePeriod(stubborn: Bool) throws {
    let flooder = stubborn ? "exec sh -c 'trap \"\" TERM; exec yes flood-b'" : "exec yes flood-b"
    let project = try makeProject(["Procfile": "a: exec yes flood-a\nb: \(flooder)\n"])
    let forge = try launch(["start", "-t", "1"], in: project)
    // Both are flooding (one of them may be starved of reads; see the fairness test).
    try forge.waitForLine(containing: "started with pid", from: "a.1")
    try forge.waitForLine(containing: "started with pid", from: "b.1")
    _ = try forge.waitForLines("100,000 flood lines", count: 100_000) {
      $0.hasSuffix("| flood-a") || $0.hasSuffix("| flood-b")
    }
    let sent = Date()
    forge.send(SIGTERM)
    let status = try forge.waitForExit(timeout: 15)
    let elapsed = forge.exitedAt.map { $0.timeIntervalSince(sent) } ?? 99
    print(
      "flood\(stubborn ? " ignoring SIGTERM" : ""): forge stopped \(String(format: "%.2f", elapsed)) s after SIGTERM")
    XCTAssertEqual(status, stubborn ? 137 : 0, forge.transcript(lastLines: 8))
    // The grace period, plus time to write what was read: more under a sanitizer, which slows
    // the relay several times over.
    let slack = ProcessInfo.processInfo.environment["FORGE_TEST_SANITIZER"] == nil ? 3.0 : 9.0
    XCTAssertLessThan(elapsed, 1 + slack, "forge took \(elapsed) s to stop a flood (grace period 1 s)")
    // forge's own lines come before the end of what it drains from the pipes: search them all.
    let tail = forge.stdout.lines
    XCTAssertTrue(tail.contains("forge | SIGTERM received, stopping"), forge.transcript(lastLines: 8))
    XCTAssertTrue(tail.contains("a.1   | terminated by SIGTERM"), forge.transcript(lastLines: 8))
    XCTAssertTrue(
      tail.contains(stubborn ? "b.1   | terminated by SIGKILL" : "b.1   | terminated by SIGTERM"),
      forge.transcript(lastLines: 8))
    let torn = forge.stdout.lines.filter {
      ($0.hasPrefix("a.1   | flood") && $0 != "a.1   | flood-a")
        || ($0.hasPrefix("b.1   | flood") && $0 != "b.1   | flood-b")
    }
    XCTAssertEqual(torn.prefix(3), [], "torn lines")
  }

  /// Two processes flooding at once while stdout is the bottleneck: both must make progress.
  /// (A stream whose pipe is not read again after back-pressure paused it is starved: its
  /// process blocks on its full pipe for as long as the other one keeps writing.)
  func testTwoFloodingProcessesShareStdoutFairly() throws {
    let project = try makeProject(["Procfile": "a: exec yes flood-a\nb: exec yes flood-b\n"])
    let forge = try launch(["start", "-t", "1"], in: project)
    let total = 800_000
    let lines = try forge.waitForLines("\(total) flood lines", count: total, timeout: 60) {
      $0.hasSuffix("| flood-a") || $0.hasSuffix("| flood-b")
    }
    forge.send(SIGTERM)
    XCTAssertEqual(try forge.waitForExit(timeout: 15), 0, forge.transcript(lastLines: 5))
    let a = lines.filter { $0.hasPrefix("a.1") }.count
    let b = total - a
    // A fair share is about half each; a starved process gets only what its pipe held when it
    // was last read (about 1 MiB: 131,072 lines).
    XCTAssertGreaterThan(min(a, b), total * 3 / 10, "a.1 got \(a) of the first \(total) lines, b.1 \(b)")
  }

  func testFloodOfOutputDuringSIGTERMStopsWithinGracePeriod() throws {
    try checkFloodStopsWithinGracePeriod(stubborn: false)
  }

  func testFloodFromAProcessIgnoringSIGTERMStopsWithinGracePeriod() throws {
    try checkFloodStopsWithinGracePeriod(stubborn: true)
  }

  // MARK: - Orphans

  /// 1,000 orphans, reparented to forge, are released at the same moment (the FIFO they block
  /// on loses its last writer) as the managed process exits 7. forge must reap every one of
  /// them and still exit 7. web.1 delays its exit until the test has looked (file `checked`),
  /// so forge is still running, stopping, while its children are counted; the grace period
  /// (10 s) is never waited out.
  func testThousandOrphansExitingTogetherAreReapedAndExitStatusIsKept() throws {
    let burst = """
      #!/bin/sh
      n=1000
      rm -rf go.fifo ready.log go; mkfifo go.fifo; : > ready.log
      # This shell holds the only writer: the orphans' reads end when it exits.
      exec 4<>go.fifo
      i=0
      while [ $i -lt $n ]; do
        ( { exec 4>&- 5<go.fifo; echo >> ready.log; read -r _ <&5; exit 0; } & )
        i=$((i+1))
      done
      until [ "$(wc -l < ready.log)" -ge $n ]; do sleep 0.02; done
      echo "$n orphans waiting"
      until [ -e go ]; do sleep 0.01; done
      exit 7

      """
    let web = """
      #!/bin/sh
      trap 'until [ -e checked ]; do sleep 0.01; done; echo "got TERM"; exit 0' TERM
      \(HelperScripts.idleSetup)
      echo "ready pid=$$"
      \(HelperScripts.idleLoop)

      """
    let project = try makeProject([
      "Procfile": "web: exec ./web.sh\nburst: exec ./burst.sh\n", "web.sh": web, "burst.sh": burst,
    ])
    let forge = try launch(["start", "-t", "10"], in: project)
    let ready = try forge.waitForLine(containing: "ready pid=", from: "web.1")
    let webPid = try XCTUnwrap(HelperScripts.pid("pid", in: ready))
    try forge.waitForLine(containing: "1000 orphans waiting", from: "burst.1", timeout: 60)
    XCTAssertTrue(
      eventually(timeout: 15) { forge.children().count >= 1002 },
      "the orphans were not reparented to forge: \(forge.children().count) children")
    try project.write("go", "")
    try forge.waitForLine(containing: "exited with code 7", from: "burst.1")
    var left: [ProcFS.Stat] = []
    let reaped = eventually(timeout: 8) {
      left = forge.children()
      return left.map(\.pid) == [webPid]
    }
    XCTAssertTrue(forge.isRunning, "forge must still be running while its children are counted")
    XCTAssertTrue(
      reaped,
      "\(left.count - 1) children besides web.1 left, \(left.filter { $0.state == "Z" }.count) of them zombies")
    try project.write("checked", "")
    XCTAssertEqual(try forge.waitForExit(), 7, forge.transcript())
    XCTAssertTrue(forge.lines(of: "web.1").contains("got TERM"), forge.transcript())
    XCTAssertFalse(forge.stdout.text.contains("SIGKILL"), forge.transcript())
  }

  // MARK: - Signals during start-up

  /// SIGTERM at a random moment 0-50 ms after forge was spawned, 100 times: forge always stops
  /// promptly, with a status that says so, and leaves no process behind.
  func testSIGTERMAtRandomMomentsDuringStartUp() throws {
    let project = try makeProject([
      "Procfile": "web: exec ./service.sh\nworker: while :; do sleep 1; done\nclock: exec sleep 600\n",
      "service.sh": HelperScripts.service,
    ])
    let began = Date()
    var generator = SystemRandomNumberGenerator()
    var outcomes: [Int32: Int] = [:]
    var failures: [String] = []
    for run in 1...100 {
      let delay = Double.random(in: 0...0.05, using: &generator)
      let forge = try launch(["start", "-t", "1", "-m", "web=2,worker=1,clock=1"], in: project)
      // Deliberately not synchronised: the point is to hit every phase of start-up.
      Thread.sleep(forTimeInterval: delay)
      forge.send(SIGTERM)
      // What is still there shortly before the grace period ends, should anything need SIGKILL.
      var lingering: [String] = []
      if !eventually(timeout: 0.8, { forge.hasExited }) {
        lingering = forge.markedProcesses().map(ProcUsage.describe)
      }
      let status: Int32
      do {
        status = try forge.waitForExit(timeout: 10)
      } catch {
        failures.append("run \(run) (delay \(Int(delay * 1000)) ms): \(error)")
        break
      }
      outcomes[status, default: 0] += 1
      let stopped = forge.runningTime.map { $0 - delay } ?? 99
      // 143: the signal came before forge had blocked it (its very first instructions).
      // 137: a child missed its SIGTERM and forge killed it after the grace period, as it
      // should. dash has two such races: `read` (HelperScripts.idle) sleeps on with the trap
      // pending when the signal lands just before the read call (about 1 in 750), and a
      // signal to the group while dash blocks all signals around vfork reaches the shell but
      // not the child being started. What was left is printed, for a look.
      if status == 137 {
        print("run \(run): SIGKILL was needed for: " + lingering.joined(separator: "; "))
      }
      if status != 0 && status != 143 && status != 137 {
        failures.append(
          "run \(run) (delay \(Int(delay * 1000)) ms): status \(status)\n\(forge.transcript())\n"
            + "still running 0.8 s after SIGTERM:\n  " + lingering.joined(separator: "\n  "))
      }
      if stopped > 1 + 3 {
        failures.append("run \(run) (delay \(Int(delay * 1000)) ms): took \(stopped) s to stop")
      }
      if status == 143 && !forge.stdout.text.isEmpty {
        failures.append("run \(run): killed by SIGTERM after it had started\n\(forge.transcript())")
      }
      let left = forge.markedProcesses()
      if !left.isEmpty {
        failures.append("run \(run) (delay \(Int(delay * 1000)) ms): left \(left)\n\(forge.transcript())")
        forge.killAll()
      }
      if failures.count >= 3 { break }
    }
    let total = Date().timeIntervalSince(began)
    print("SIGTERM during start-up: exit statuses \(outcomes) in \(String(format: "%.1f", total)) s")
    XCTAssertEqual(failures, [], "outcomes so far: \(outcomes)")
    XCTAssertLessThan(total, 90, "100 runs took \(total) s")
  }

  // MARK: - stdout going away

  /// `forge start | head -1`: the reader exits after one line. forge says once on stderr that
  /// stdout broke, goes on reading its processes' pipes (a process writing 3 MB, more than
  /// pipes and buffers hold, finishes), and still stops on SIGTERM.
  func testSupervisingGoesOnAfterTheStdoutReaderExits() throws {
    let talker = """
      #!/bin/sh
      trap 'exit 0' TERM
      echo first
      until [ -e go ]; do sleep 0.01; done
      head -c 3000000 /dev/zero | tr '\\0' x | fold -w 100
      \(HelperScripts.idleSetup)
      echo done > done.txt
      echo "after done"
      \(HelperScripts.idleLoop)

      """
    let project = try makeProject(["Procfile": "web: exec ./talker.sh\n", "talker.sh": talker])
    let forge = try launch(["start", "-t", "1"], in: project, stdout: .closeAfterLines(1))
    XCTAssertTrue(forge.stdout.waitForEnd(timeout: 15), "the reader did not stop after one line")
    try project.write("go", "")
    try forge.waitForLine(containing: "no more log output, still supervising", in: \.stderr)
    XCTAssertTrue(
      eventually(timeout: 15) { project.exists("done.txt") },
      "the process blocked on its pipe: forge stopped reading it when stdout broke\n\(forge.transcript())")
    XCTAssertTrue(forge.isRunning)
    forge.send(SIGTERM)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript())
    let reports = forge.stderr.lines.filter { $0.contains("stdout") }
    XCTAssertEqual(reports.count, 1, "stdout's failure is reported once: \(forge.stderr.lines)")
    XCTAssertTrue(reports.first?.contains("Broken pipe") ?? false, "\(reports)")
    XCTAssertEqual(forge.markedProcesses(), [])
  }
}
