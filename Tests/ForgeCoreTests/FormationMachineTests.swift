import XCTest

@testable import ForgeCore

/// The formation machine's rules as tables: inputs in, the expected actions out. Starting,
/// exits and the restart policy; stopping and live control are in the two files after this.
final class FormationMachineTests: XCTestCase {
  private typealias B = MachineBench

  func testStartSpawnsEveryInstanceOfEveryType() {
    var bench = B([("web", .never, 15), ("clock", .never, 15), ("worker", .never, 15)])
    XCTAssertEqual(
      bench.send(.start(counts: [2, 0, 1])), [.spawn(B.id(0, 1)), .spawn(B.id(0, 2)), .spawn(B.id(2, 1))])
    XCTAssertEqual(bench.machine.activeCounts, [2, 0, 1])
    XCTAssertNil(bench.machine.nextDeadline, "every spawn is out; nothing to wake up for")
  }

  func testSpawnedAnnouncesItsPid() {
    var bench = B([("web", .never, 15)])
    bench.send(.start(counts: [1]))
    XCTAssertEqual(bench.send(.spawned(B.id(0, 1), pid: 4242)), [.announce(B.id(0, 1), "started with pid 4242")])
    XCTAssertEqual(bench.machine.instances[B.id(0, 1)]?.state, .running(pid: 4242))
  }

  func testAnExitWithoutRestartStopsEveryGroupAndEndsWithItsStatus() {
    var bench = B([("web", .never, 15)])
    bench.start([2])
    XCTAssertEqual(
      bench.send(.reaped(pid: 101, status: .exited(3))),
      [
        .collectOutput(group: 101), .announce(B.id(0, 1), "exited with code 3"),
        .signal(group: 101, signals: [15, 18]),
        .announce(nil, "sending SIGTERM to all processes"), .signal(group: 102, signals: [15, 18]),
      ])
    XCTAssertEqual(bench.machine.phase, .stopping)
    XCTAssertEqual(bench.send(.groupEmpty(101)), [.collectOutput(group: 101)])
    XCTAssertEqual(
      bench.send(.reaped(pid: 102, status: .signaled(15))),
      [.collectOutput(group: 102), .announce(B.id(0, 2), "terminated by SIGTERM"), .probe([102])])
    XCTAssertEqual(bench.send(.groupEmpty(102)), [.collectOutput(group: 102), .sweep(signal: 15)])
    XCTAssertEqual(bench.send(.orphans(signal: 15, found: [])), [.beginDrain])
    XCTAssertEqual(bench.send(.outputDrained), [.exit(3)], "the first exit's status, not 0 for the stopped one")
    XCTAssertEqual(bench.machine.phase, .finished(3))
  }

  func testKilledBySignalEndsWith128PlusTheSignal() {
    var bench = B([("web", .never, 15)])
    bench.start([2])
    let first = bench.end(101, .signaled(6))
    XCTAssertTrue(B.messages(in: first).contains("0.1: terminated by SIGABRT"))
    XCTAssertEqual(B.exit(in: bench.end(102, .signaled(15))), 134)
  }

  func testOnFailureSuccessIsDoneAndTheFormationEndsWithZeroOnlyWhenNothingIsLeft() {
    var bench = B([("job", .onFailure, 15), ("web", .never, 15)])
    bench.start([2, 1])
    XCTAssertEqual(
      bench.send(.reaped(pid: 101, status: .exited(0))),
      [
        .collectOutput(group: 101), .announce(B.id(0, 1), "exited with code 0"),
        .signal(group: 101, signals: [15, 18]),
      ])
    XCTAssertEqual(bench.machine.instances[B.id(0, 1)]?.state, .exited(.exited(0)))
    bench.send(.groupEmpty(101))
    XCTAssertEqual(B.messages(in: bench.end(102, .exited(0))), ["0.2: exited with code 0"], "web.1 is still there")
    XCTAssertEqual(bench.machine.phase, .running)
    // A failure of an on-failure type is restarted; the last one of the formation to go ends it with 0.
    var restarting = B([("job", .onFailure, 15)])
    restarting.start([2])
    XCTAssertTrue(B.messages(in: restarting.end(101, .exited(1))).contains("0.1: restarting in 1 s"))
    XCTAssertEqual(restarting.machine.phase, .running)
    XCTAssertNil(B.exit(in: restarting.end(102, .exited(0))), "job.1 is waiting to start again")
    restarting.wait(1)
    restarting.send(.spawned(B.id(0, 1), pid: 111))
    XCTAssertEqual(B.exit(in: restarting.end(111, .exited(0))), 0)
  }

  func testAlwaysRestartsWithDoublingBackoffThatResetsAfterTenSecondsUp() {
    var bench = B([("web", .always, 15)])
    bench.start([1])
    let web = B.id(0, 1)
    var pid: Int32 = 101
    for (uptime, backoff) in [(0.5, 1.0), (0.5, 2), (3, 4), (12, 1), (0.2, 2)] {
      bench.now += nanos(uptime)
      let exited = bench.end(pid, .exited(0))
      XCTAssertTrue(B.messages(in: exited).contains("0.1: restarting in \(formatSeconds(backoff)) s"), "\(exited)")
      XCTAssertEqual(bench.machine.instances[web]?.state, .waiting(until: bench.now + nanos(backoff), isRestart: true))
      XCTAssertEqual(bench.wait(backoff - 0.001), [], "not before the backoff")
      XCTAssertEqual(bench.wait(0.001), [.spawn(web)])
      pid += 10
      bench.send(.spawned(web, pid: pid))
    }
    XCTAssertEqual(bench.machine.instances[web]?.restarts, 5)
    XCTAssertEqual(bench.machine.phase, .running)
  }

  func testGivingUpAfterMoreThanFiveExitsInAMinuteEndsWithTheStatusOrOne() {
    for (status, expected) in [(WaitStatus.exited(0), Int32(1)), (.exited(4), 4), (.signaled(11), 139)] {
      var bench = B([("web", .always, 15)], grace: 1)
      bench.start([1])
      var pid: Int32 = 101
      var actions: [B.Action] = []
      for round in 0..<6 {
        actions = bench.end(pid, status)
        guard round < 5 else { break }
        XCTAssertEqual(bench.machine.phase, .running, "exit \(round + 1) of 6")
        bench.wait(Double(1 << round))  // the backoff: 1, 2, 4, 8, 16 s; the sixth exit comes at 31 s
        pid += 10
        bench.send(.spawned(B.id(0, 1), pid: pid))
      }
      XCTAssertTrue(
        B.messages(in: actions).contains("web failed: web.1 exited 6 times within 60 s; giving up"), "\(actions)")
      XCTAssertEqual(B.exit(in: actions), expected, "\(status)")
    }
  }

  func testExitsSpreadOverMoreThanAMinuteDoNotGiveUp() {
    var bench = B([("web", .always, 15)])
    bench.start([1])
    var pid: Int32 = 101
    for _ in 0..<8 {
      bench.now += nanos(13)  // long enough to reset the backoff: one exit per 14 s, five at most in a minute
      XCTAssertTrue(B.messages(in: bench.end(pid, .exited(1))).contains("0.1: restarting in 1 s"))
      bench.wait(1)
      pid += 10
      bench.send(.spawned(B.id(0, 1), pid: pid))
    }
    XCTAssertEqual(bench.machine.phase, .running)
  }

  func testGivingUpIsAnnouncedOnce() {
    var bench = B([("web", .always, 15)])
    bench.start([2])
    var pids: [Int32] = [101, 102]
    var all: [B.Action] = []
    for round in 0..<6 {  // both crash at once after each start; web.1's sixth exit gives up
      for pid in pids { all += bench.end(pid, .exited(1)) }
      guard round < 5 else { break }
      for case .spawn(let id) in bench.wait(Double(1 << round)) {
        pids[id.number - 1] += 10
        all += bench.send(.spawned(id, pid: pids[id.number - 1]))
      }
    }
    XCTAssertEqual(B.messages(in: all).filter { $0.hasSuffix("giving up") }.count, 1, "\(B.messages(in: all))")
    XCTAssertEqual(B.exit(in: all), 1)
  }

  func testAFailedSpawnIsAnExitWith127() {
    var bench = B([("web", .never, 15)])
    bench.send(.start(counts: [1]))
    let actions = bench.drive(.spawnFailed(B.id(0, 1), reason: "No such file or directory"))
    XCTAssertEqual(
      Array(actions.prefix(2)),
      [
        .announce(B.id(0, 1), "failed to start: No such file or directory"),
        .announce(nil, "sending SIGTERM to all processes"),
      ])
    XCTAssertEqual(B.exit(in: actions), 127)
  }
}
