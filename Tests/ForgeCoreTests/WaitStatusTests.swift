import XCTest

@testable import ForgeCore

final class WaitStatusTests: XCTestCase {
  func testExitCodes() {
    XCTAssertEqual(WaitStatus(raw: 0), .exited(0))
    XCTAssertEqual(WaitStatus(raw: 1 << 8), .exited(1))
    XCTAssertEqual(WaitStatus(raw: 255 << 8), .exited(255))
    XCTAssertEqual(WaitStatus(raw: 0).shellStatus, 0)
    XCTAssertEqual(WaitStatus(raw: 42 << 8).shellStatus, 42)
    XCTAssertTrue(WaitStatus(raw: 0).isSuccess)
    XCTAssertFalse(WaitStatus(raw: 1 << 8).isSuccess)
  }

  func testSignals() {
    XCTAssertEqual(WaitStatus(raw: 9), .signaled(9))
    XCTAssertEqual(WaitStatus(raw: 15), .signaled(15))
    XCTAssertEqual(WaitStatus(raw: 0x80 | 11), .signaled(11), "the core-dump bit is not part of the signal")
    XCTAssertEqual(WaitStatus(raw: 9).shellStatus, 137)
    XCTAssertEqual(WaitStatus(raw: 15).shellStatus, 143)
    XCTAssertEqual(WaitStatus(raw: 0x80 | 11).shellStatus, 139)
    XCTAssertFalse(WaitStatus(raw: 15).isSuccess)
  }

  func testShellStatusIsModulo256() {
    XCTAssertEqual(WaitStatus.signaled(128).shellStatus, 0)
    XCTAssertEqual(WaitStatus.signaled(130).shellStatus, 2)
    XCTAssertEqual(WaitStatus.exited(256 + 7).shellStatus, 7)
  }

  func testStoppedAndContinued() {
    XCTAssertEqual(WaitStatus(raw: (19 << 8) | 0x7f), .stopped(19))
    XCTAssertEqual(WaitStatus(raw: (20 << 8) | 0x7f), .stopped(20))
    XCTAssertEqual(WaitStatus(raw: 0xffff), .continued)
    XCTAssertFalse(WaitStatus.stopped(19).isTermination)
    XCTAssertFalse(WaitStatus.continued.isTermination)
    XCTAssertTrue(WaitStatus.exited(1).isTermination)
    XCTAssertTrue(WaitStatus.signaled(9).isTermination)
    XCTAssertEqual(WaitStatus.stopped(19).shellStatus, 0)
  }

  func testSummary() {
    XCTAssertEqual(WaitStatus.exited(3).summary, "exited with code 3")
    XCTAssertEqual(WaitStatus.signaled(9).summary, "terminated by SIGKILL")
    XCTAssertEqual(WaitStatus.signaled(15).summary, "terminated by SIGTERM")
    XCTAssertEqual(WaitStatus.signaled(40).summary, "terminated by signal 40")
    XCTAssertEqual(WaitStatus.stopped(19).summary, "stopped by SIGSTOP")
    XCTAssertEqual(WaitStatus.continued.summary, "continued")
  }
}
