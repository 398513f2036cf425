import Foundation
import XCTest

/// A slow or stuck reader of forge's stdout: forge stops reading its processes' pipes rather
/// than buffering without bound, loses nothing, and keeps handling signals meanwhile.
final class BackPressureTests: ForgeTestCase {
  /// forge's child processes that are blocked writing to their full output pipe.
  private func blockedWriters(_ forge: ForgeProcess) -> [pid_t] {
    forge.children().map(\.pid).filter(ProcFS.isBlockedOnPipeWrite)
  }

  func testStuckStdoutBlocksTheWriterAndLosesNothing() throws {
    // 60,000 lines of 100 bytes: 6 MB, more than forge's buffer and both pipes hold.
    let count = 60_000
    let payload = String(repeating: "p", count: 88)
    let project = try makeProject([
      "Procfile":
        "web: exec awk 'BEGIN { for (i = 1; i <= \(count); i++) printf \"%06d \(payload)\\n\", i; print \"all-written\" }'\n"
    ])
    let forge = try launch(["start"], in: project, stdout: .pausedPipe)
    XCTAssertTrue(
      eventually(timeout: 15) { !blockedWriters(forge).isEmpty },
      "the writer never blocked: forge buffers without bound?\n\(forge.transcript())")
    XCTAssertTrue(forge.isRunning)
    forge.stdout.resume()
    XCTAssertEqual(try forge.waitForExit(timeout: 60), 0, forge.transcript(lastLines: 5))

    // Every line once, whole and in order; forge's own lines about web.1 may come earlier
    // than its last output while stdout lags (README: "when stdout keeps up").
    let web = forge.lines(of: "web.1")
    XCTAssertTrue(web.contains("exited with code 0"))
    XCTAssertTrue(web.contains("all-written"), "the last line arrives")
    let output = web.filter { !$0.hasPrefix("started with pid") && $0 != "exited with code 0" && $0 != "all-written" }
    let torn = output.filter { !$0.hasSuffix(payload) || $0.count != 7 + payload.count }
    XCTAssertEqual(torn.map { String($0.prefix(20)) }, [], "torn lines")
    XCTAssertEqual(output.count, count, "every line arrives once")
    let firstWrong = output.enumerated().first { Int($0.element.prefix(6)) != $0.offset + 1 }
    XCTAssertNil(firstWrong.map { "line \($0.offset + 1): \($0.element.prefix(20))" }, "lines out of order")
  }

  func testSignalsAreHandledWhileStdoutIsBlocked() throws {
    let project = try makeProject([
      "Procfile": "web: exec yes flood\nworker: exec ./service.sh\n", "service.sh": HelperScripts.service,
    ])
    let forge = try launch(["start"], in: project, stdout: .pausedPipe)
    XCTAssertTrue(
      eventually(timeout: 15) { !blockedWriters(forge).isEmpty }, "yes never blocked\n\(forge.transcript())")
    let children = forge.children().map(\.pid)
    XCTAssertEqual(children.count, 2, "web.1 and worker.1")
    forge.send(SIGTERM)
    // Nothing reads forge's stdout, yet the stop goes on: both processes end.
    XCTAssertTrue(
      eventually(timeout: 10) { children.allSatisfy { !ProcFS.isAlive($0) } },
      "processes still alive after SIGTERM while stdout was blocked\n\(forge.transcript())")
    forge.stdout.resume()
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript(lastLines: 10))
    let lines = forge.stdout.lines
    XCTAssertTrue(lines.contains("forge    | SIGTERM received, stopping"), forge.transcript(lastLines: 10))
    XCTAssertTrue(lines.contains("worker.1 | got TERM"), forge.transcript(lastLines: 10))
    XCTAssertTrue(lines.contains("worker.1 | exited with code 0"), forge.transcript(lastLines: 10))
    XCTAssertTrue(lines.contains("web.1    | terminated by SIGTERM"), forge.transcript(lastLines: 10))
    let torn = lines.filter {
      $0.hasPrefix("web.1    | ") && !["flood", "terminated by SIGTERM"].contains($0.dropFirst(11))
    }
    XCTAssertEqual(torn.filter { !$0.contains("started with pid") }, [], "torn lines at the end of web.1's output")
  }

  func testSlowConsumerGetsEveryLineOfSeveralChattyProcesses() throws {
    // Four processes with 300 KB each, through a one-page pipe read 512 bytes at a time:
    // forge keeps pausing and resuming its reading of all four pipes.
    let count = 5000
    let types = ["alpha", "bravo", "charlie", "delta"]
    let payload = String(repeating: "z", count: 48)
    let procfile = types.map { type in
      "\(type): awk 'BEGIN { for (i = 1; i <= \(count); i++) printf \"%06d \(payload)\\n\", i }';"
        + " echo \(type)-done; exec sleep 600\n"
    }.joined()
    let project = try makeProject(["Procfile": procfile])
    let forge = try launch(["start"], in: project, stdout: .trickle)
    for type in types { try forge.waitForLine(containing: "\(type)-done", from: "\(type).1", timeout: 60) }
    forge.send(SIGTERM)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript(lastLines: 10))
    for type in types {
      let numbered = forge.lines(of: "\(type).1").filter { $0.hasSuffix(payload) }
      XCTAssertEqual(numbered.count, count, "\(type): every line once")
      let firstWrong = numbered.enumerated().first { Int($0.element.prefix(6)) != $0.offset + 1 }
      XCTAssertNil(
        firstWrong.map { "line \($0.offset + 1): \($0.element.prefix(20))" }, "\(type): out of order or torn")
    }
  }

  /// forge must exit as soon as everything is written, however slowly stdout took it. The
  /// race this guards against: at exit, stdout is full when forge starts draining (the last
  /// burst is a little larger than the pipe) and takes the rest microseconds later, before the
  /// end of that same event-loop round. It is timing-dependent (seen about once in 30 rounds
  /// on a busy machine, rarely on an idle one), so it is run a number of times.
  func testExitIsPromptWhenStdoutIsSlowAtTheEnd() throws {
    let rounds = 50
    var slow: [String] = []
    for round in 1...rounds {
      let project = try makeProject(["Procfile": "web: head -c 70000 /dev/zero | tr '\\0' a\n"])
      let forge = try launch(["start"], in: project)
      XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript(lastLines: 5))
      XCTAssertEqual(
        forge.lines(of: "web.1").filter { $0.hasPrefix("aaa") }.map(\.count), [65536, 70000 - 65536], "round \(round)")
      let seconds = forge.runningTime ?? 0
      if seconds > 3 || !forge.stderr.text.isEmpty {
        slow.append("round \(round): \(String(format: "%.1f", seconds)) s, stderr: \(forge.stderr.text)")
        break  // each costs forge's 10 s of patience
      }
    }
    XCTAssertEqual(slow, [], "forge lingered after writing everything")
  }
}
