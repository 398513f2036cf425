import XCTest

@testable import ForgeCore

final class RestartPolicyTests: XCTestCase {
  private let second: UInt64 = 1_000_000_000

  func testBackoffDoublesFromOneSecondUpToThirty() {
    var delays: [Double] = []
    var current = 0.0
    for _ in 0..<8 {
      current = RestartPolicy.nextBackoff(current: current, uptimeSeconds: 0.5)
      delays.append(current)
    }
    XCTAssertEqual(delays, [1, 2, 4, 8, 16, 30, 30, 30])
  }

  func testBackoffResetsAfterTenSecondsUp() {
    XCTAssertEqual(RestartPolicy.nextBackoff(current: 16, uptimeSeconds: 10), 1)
    XCTAssertEqual(RestartPolicy.nextBackoff(current: 30, uptimeSeconds: 3600), 1)
    XCTAssertEqual(RestartPolicy.nextBackoff(current: 16, uptimeSeconds: 9.999), 30)
    XCTAssertEqual(RestartPolicy.nextBackoff(current: 4, uptimeSeconds: 9.999), 8)
  }

  func testGivesUpAfterMoreThanMaxRestartsWithinTheWindow() {
    let policy = RestartPolicy()  // 5 within 60 s
    let now = 1000 * second
    let five = (0..<5).map { now - UInt64($0) * second }.reversed()
    XCTAssertFalse(policy.givesUp(failures: Array(five), now: now), "five is the limit, not over it")
    XCTAssertTrue(policy.givesUp(failures: [now - 59 * second] + Array(five), now: now))
  }

  func testFailuresOutsideTheWindowDoNotCount() {
    let policy = RestartPolicy()
    let now = 1000 * second
    let old = [now - 120 * second, now - 61 * second]
    let recent = (0..<5).map { now - UInt64($0) * second }.reversed()
    XCTAssertFalse(policy.givesUp(failures: old + recent, now: now))
    XCTAssertTrue(policy.givesUp(failures: [now - 60 * second] + recent, now: now), "the window's edge counts")
  }

  func testCustomLimits() {
    var policy = RestartPolicy()
    policy.maxRestarts = 0
    policy.windowSeconds = 1.5
    let now = 100 * second
    XCTAssertTrue(policy.givesUp(failures: [now], now: now))
    XCTAssertFalse(policy.givesUp(failures: [now - 2 * second], now: now))
    XCTAssertFalse(policy.givesUp(failures: [], now: now))
  }

  func testModes() {
    var policy = RestartPolicy()
    XCTAssertFalse(policy.restarts("web", after: .exited(1)), "never by default")
    policy.defaultMode = .onFailure
    XCTAssertFalse(policy.restarts("web", after: .exited(0)))
    XCTAssertTrue(policy.restarts("web", after: .exited(3)))
    XCTAssertTrue(policy.restarts("web", after: .signaled(9)))
    policy.defaultMode = .always
    XCTAssertTrue(policy.restarts("web", after: .exited(0)))
  }

  func testApplyDefaultAndPerType() throws {
    var policy = RestartPolicy()
    try policy.apply("always, migrate=never ,worker=on-failure", source: "--restart")
    XCTAssertEqual(policy.defaultMode, .always)
    XCTAssertEqual(policy.mode(for: "migrate"), .never)
    XCTAssertEqual(policy.mode(for: "worker"), .onFailure)
    XCTAssertEqual(policy.mode(for: "web"), .always)
    XCTAssertFalse(policy.restarts("migrate", after: .exited(1)))
    try policy.apply("web=never", source: "--restart")
    XCTAssertEqual(policy.mode(for: "web"), .never)
    XCTAssertEqual(policy.defaultMode, .always, "a later spec changes only what it names")
  }

  func testApplyErrors() {
    var policy = RestartPolicy()
    assertConfigError(
      try policy.apply("sometimes", source: "--restart"), line: 0, path: "--restart", mentioning: "sometimes")
    assertConfigError(try policy.apply("web=alway", source: "FORGE_RESTART"), line: 0, path: "FORGE_RESTART")
    assertConfigError(try policy.apply("web=", source: "--restart"), line: 0)
    assertConfigError(try policy.apply("On-Failure", source: "--restart"), line: 0)
  }

  func testStopSignals() throws {
    var signals = StopSignals()
    XCTAssertEqual(signals.signal(for: "web"), 15)
    try signals.apply("SIGQUIT", source: "--stop-signal")
    XCTAssertEqual(signals.signal(for: "web"), 3)
    try signals.apply("web=int, nginx=2,worker=sigusr1", source: "--stop-signal")
    XCTAssertEqual(signals.signal(for: "web"), 2)
    XCTAssertEqual(signals.signal(for: "nginx"), 2)
    XCTAssertEqual(signals.signal(for: "worker"), 10)
    XCTAssertEqual(signals.signal(for: "other"), 3)
    assertConfigError(try signals.apply("SIGNOPE", source: "--stop-signal"), line: 0, mentioning: "SIGNOPE")
    assertConfigError(try signals.apply("web=99", source: "FORGE_STOP_SIGNAL"), line: 0, path: "FORGE_STOP_SIGNAL")
  }
}
