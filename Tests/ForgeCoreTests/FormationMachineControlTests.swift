import XCTest

@testable import ForgeCore

/// Table tests of live control (scale, restart, forwarded signals) and of the timers.
final class FormationMachineControlTests: XCTestCase {
  private typealias B = MachineBench
  private typealias TypeCount = FormationMachine.TypeCount

  func testScaleTouchesOnlyTheNamedTypesHighestNumbers() {
    var bench = B([("a", .never, 15), ("b", .never, 15)])
    bench.start([3, 2])
    XCTAssertEqual(
      bench.send(.scale([TypeCount(typeIndex: 0, count: 1)])),
      [.signal(group: 102, signals: [15, 18]), .signal(group: 103, signals: [15, 18])])
    XCTAssertEqual(bench.machine.activeCounts, [1, 2])
    XCTAssertEqual(
      bench.send(.scale([TypeCount(typeIndex: 1, count: 4)])),
      [.instancesAdded, .spawn(B.id(1, 3)), .spawn(B.id(1, 4))])
    XCTAssertEqual(bench.machine.activeCounts, [1, 4])
    XCTAssertEqual(B.messages(in: bench.end(102, .signaled(15))), ["0.2: terminated by SIGTERM"])
    XCTAssertEqual(B.messages(in: bench.end(103, .exited(0))), ["0.3: exited with code 0"])
    XCTAssertEqual(bench.machine.phase, .running, "a process stopped by scaling does not end the formation")
    XCTAssertEqual(bench.machine.instances.keys.sorted(), [B.id(0, 1), B.id(1, 1), B.id(1, 2), B.id(1, 3), B.id(1, 4)])
    XCTAssertEqual(bench.send(.scale([TypeCount(typeIndex: 0, count: 1)])), [], "already there")
  }

  func testScaleBackUpWhileStoppingKeepsTheNumber() {
    var bench = B([("a", .never, 15)])
    bench.start([2])
    XCTAssertEqual(bench.send(.scale([TypeCount(typeIndex: 0, count: 1)])), [.signal(group: 102, signals: [15, 18])])
    XCTAssertEqual(bench.send(.scale([TypeCount(typeIndex: 0, count: 2)])), [], "a.2 comes back once it is gone")
    XCTAssertEqual(bench.send(.reaped(pid: 102, status: .signaled(15))).last, .probe([102]))
    XCTAssertEqual(bench.send(.groupEmpty(102)), [.collectOutput(group: 102), .spawn(B.id(0, 2))])
    XCTAssertEqual(bench.send(.spawned(B.id(0, 2), pid: 112)), [.announce(B.id(0, 2), "started with pid 112")])
    XCTAssertEqual(bench.machine.phase, .running)
  }

  func testRestartRespawnsTheSameNumberOnceItsGroupIsEmpty() {
    var bench = B([("a", .never, 15)])
    bench.start([2])
    XCTAssertEqual(bench.send(.restart([B.id(0, 1)])), [.signal(group: 101, signals: [15, 18])])
    XCTAssertEqual(
      bench.send(.reaped(pid: 101, status: .signaled(15))),
      [.collectOutput(group: 101), .announce(B.id(0, 1), "terminated by SIGTERM"), .probe([101])])
    XCTAssertEqual(bench.wait(0.25), [.probe([101])], "a child is left in the group: no spawn yet")
    XCTAssertEqual(bench.send(.groupEmpty(101)), [.collectOutput(group: 101), .spawn(B.id(0, 1))])
    XCTAssertEqual(bench.machine.instances[B.id(0, 1)]?.restarts, 1)
    XCTAssertEqual(bench.machine.phase, .running, "a restarted process does not end the formation")
  }

  /// One instance at a time, in Procfile order, the next once the previous is ready again (at
  /// once without a readiness probe), so a type of two or more always has one serving.
  func testRestartOfEverythingGoesOneInstanceAtATime() {
    var bench = B([("a", .never, 15), ("b", .never, 15)])
    bench.start([2, 1])
    XCTAssertEqual(bench.send(.restartAll), [.signal(group: 101, signals: [15, 18])])
    XCTAssertEqual(bench.end(101, .signaled(15)).last, .spawn(B.id(0, 1)))
    XCTAssertEqual(
      bench.send(.spawned(B.id(0, 1), pid: 111)),
      [.announce(B.id(0, 1), "started with pid 111"), .signal(group: 102, signals: [15, 18])], "then a.2")
    XCTAssertEqual(bench.end(102, .signaled(15)).last, .spawn(B.id(0, 2)))
    XCTAssertEqual(
      bench.send(.spawned(B.id(0, 2), pid: 112)),
      [.announce(B.id(0, 2), "started with pid 112"), .signal(group: 201, signals: [15, 18])], "then b.1")
    XCTAssertEqual(bench.end(201, .signaled(15)).last, .spawn(B.id(1, 1)))
    XCTAssertEqual(bench.send(.spawned(B.id(1, 1), pid: 211)), [.announce(B.id(1, 1), "started with pid 211")])
    XCTAssertFalse(bench.machine.isRestarting)
    XCTAssertEqual(bench.machine.instances.values.map(\.restarts), [1, 1, 1])
  }

  func testForwardedSignalReachesEveryGroup() {
    var bench = B([("a", .never, 15), ("b", .never, 15)])
    bench.start([2, 1])
    XCTAssertEqual(
      bench.send(.forward(signal: 1)),
      [
        .announce(nil, "forwarding SIGHUP to all processes"), .signal(group: 101, signals: [1]),
        .signal(group: 102, signals: [1]), .signal(group: 201, signals: [1]),
      ])
  }

  /// The defect: with `--restart on-failure`, a.1 finishing with 0 while a.2 is still leaving
  /// (scaled away) left nothing to wake the formation once a.2's group was gone. Both orders.
  func testOnFailureCompletionWhileAnInstanceIsLeavingEndsWithZero() {
    for leaderFirst in [false, true] {
      var bench = B([("a", .onFailure, 15)])
      bench.start([2])
      bench.send(.scale([TypeCount(typeIndex: 0, count: 1)]))
      if leaderFirst { bench.send(.reaped(pid: 102, status: .signaled(15))) }  // a child keeps group 102
      XCTAssertNil(B.exit(in: bench.end(101, .exited(0))))
      XCTAssertEqual(bench.machine.phase, .running, "a.2 is still leaving")
      let last = leaderFirst ? bench.drive(.groupEmpty(102), empty: [102]) : bench.end(102, .signaled(15))
      XCTAssertEqual(B.exit(in: last), 0, "leaderFirst \(leaderFirst): \(last)")
      XCTAssertEqual(bench.machine.phase, .finished(0))
    }
  }

  /// The same when the instance that finished was scaled away and no instance is left at all:
  /// the end of the formation begins inside the last step of a reconcile and nothing moves it on.
  func testOnFailureCompletionEndsWhenNoInstanceIsLeft() {
    var bench = B([("a", .onFailure, 15)])
    bench.start([2])
    bench.end(102, .exited(0))  // a.2 is done
    XCTAssertEqual(bench.send(.scale([TypeCount(typeIndex: 0, count: 1)])), [], "a.2 is forgotten")
    XCTAssertEqual(bench.send(.scale([TypeCount(typeIndex: 0, count: 0)])), [.signal(group: 101, signals: [15, 18])])
    let last = bench.end(101, .signaled(15))
    XCTAssertEqual(bench.machine.phase, .finished(0), "\(last)")
    XCTAssertEqual(B.exit(in: last), 0)
  }

  func testNextDeadlineIsAlwaysTheEarliestLiveDeadline() {
    var bench = B([("web", .always, 15), ("worker", .never, 15)], grace: 3)
    bench.start([2, 1])
    let origin = bench.now
    func step(_ input: B.Input, at milliseconds: UInt64, _ line: UInt = #line) {
      bench.now = origin + milliseconds * 1_000_000
      bench.send(input)
      XCTAssertEqual(
        bench.machine.nextDeadline, B.earliestLiveDeadline(bench.machine), "\(bench.machine.leaderless)", line: line)
      if let next = bench.machine.nextDeadline, input == .timer {
        XCTAssertGreaterThanOrEqual(next, bench.now, "not in the past", line: line)
      }
    }
    step(.reaped(pid: 101, status: .exited(1)), at: 0)  // backoff 1 s, leftover group 3 s, recheck 0.25 s
    step(.reaped(pid: 102, status: .exited(1)), at: 100)
    XCTAssertEqual(bench.machine.nextDeadline, origin + nanos(0.25))
    step(.timer, at: 250)  // the probe is not answered: both groups linger
    step(.timer, at: 700)
    step(.timer, at: 1000)
    step(.spawned(B.id(0, 1), pid: 111), at: 1000)
    step(.restart([B.id(1, 1)]), at: 1050)
    step(.timer, at: 1100)
    step(.spawned(B.id(0, 2), pid: 112), at: 1100)
    step(.stop(reason: "SIGTERM", escalates: true), at: 2000)
    step(.timer, at: 3000)  // leftover 101: SIGKILL
    step(.groupEmpty(101), at: 3010)
    step(.timer, at: 3100)  // leftover 102: SIGKILL
    step(.reaped(pid: 111, status: .signaled(15)), at: 3200)
    step(.reaped(pid: 112, status: .signaled(15)), at: 3300)
    step(.reaped(pid: 201, status: .signaled(15)), at: 3400)
    step(.timer, at: 8100)  // 102 given up on; 111, 112 and 201 SIGKILLed
    for pgid in [111, 112, 201] as [Int32] { step(.groupEmpty(pgid), at: 8200) }
    XCTAssertEqual(bench.machine.phase, .sweeping(.asked(killAt: bench.now + nanos(3))))
    step(.orphans(signal: 15, found: ["400 (sleep)"]), at: 8200)
    step(.timer, at: 11_200)
    XCTAssertEqual(bench.machine.phase, .sweeping(.killed(giveUpAt: bench.now + Teardown.defaultBound)))
    step(.childrenGone, at: 11_300)
    XCTAssertNil(bench.machine.nextDeadline)
    XCTAssertEqual(bench.send(.outputDrained), [.exit(1)], "group 102 could not be killed")
  }

  /// A group emptied without forge seeing it yet (its last member reaped a moment ago), and the
  /// kernel gives its number to the next spawn: the new group must not pass for the old one,
  /// or the instance that owned the old one waits for it for ever and forge never exits.
  func testAPidReusedBeforeTheOldGroupIsSeenEmptyDoesNotStrandItsOwner() {
    var bench = B([("a", .never, 15), ("b", .always, 15)])
    bench.start([2, 1])
    bench.send(.scale([TypeCount(typeIndex: 0, count: 1)]))
    XCTAssertEqual(bench.send(.reaped(pid: 102, status: .signaled(15))).last, .probe([102]), "a child stays in 102")
    bench.end(201, .exited(1))
    XCTAssertTrue(bench.wait(1).contains(.spawn(B.id(1, 1))))
    bench.send(.spawned(B.id(1, 1), pid: 102))  // the child was reaped meanwhile: 102 is free again
    XCTAssertNil(bench.machine.instances[B.id(0, 2)], "a.2's group is gone: a.2 has left the formation")
    bench.send(.stop(reason: "SIGTERM", escalates: true))
    bench.end(101, .signaled(15))
    XCTAssertEqual(B.exit(in: bench.end(102, .signaled(15))), 0, "\(bench.machine.orderedInstances.map(\.state))")
  }

  /// The group recheck stays armed after the last lingering group is gone: the loop wakes up
  /// for nothing, and a finished formation still reports a deadline.
  func testARecheckIsNotLeftArmedOnceNoGroupLingers() {
    var bench = B([("web", .always, 15)])
    bench.start([1])
    bench.end(101, .exited(1))  // its group is found empty at once
    XCTAssertEqual(bench.machine.nextDeadline, bench.now + nanos(1), "the backoff, not a recheck of no group")
  }

  func testAWakeUpDoesNotTouchAThousandIdleInstances() {
    var bench = B([("web", .always, 15)])
    bench.start([1000])
    XCTAssertEqual(bench.machine.instances.count, 1000)
    XCTAssertNil(bench.machine.nextDeadline)
    XCTAssertLessThanOrEqual(bench.machine.timers.count, 1, "the spawn timers went with the spawns")
    XCTAssertEqual(bench.wait(60), [])
    XCTAssertEqual(bench.send(.timer), [])
    XCTAssertLessThanOrEqual(bench.machine.timers.count, 1)
    // One exit arms one timer, and the wake-up for it spawns that instance alone.
    bench.end(MachineBench.pid(0, 500), .exited(1))
    XCTAssertLessThan(bench.machine.timers.count, 5)
    XCTAssertEqual(bench.wait(1), [.spawn(B.id(0, 500))])
  }
}
