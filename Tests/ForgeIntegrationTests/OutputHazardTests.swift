import Foundation
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// Hazards of the output path while stdout is stuck, through the real binary: descriptors in
/// a crash loop (hazard 11), forge's own messages and its memory (hazard 7); and pipes grown
/// only for processes that prove chatty (hazard 6).
final class OutputHazardTests: ForgeControlTestCase {
  // MARK: - Descriptors in a crash loop while stdout is stuck (hazard 11)

  func testDescriptorsStayBoundedInACrashLoopWhileStdoutIsStuck() throws {
    let project = try makeProject([
      "Procfile": "flood: exec yes floodline\ncrash: echo \"crash $PS $(date +%s%N)\"; exit 1\n"
    ])
    let forge = try launch(
      ["start", "-t", "2", "-m", "crash=20,flood=1", "--restart", "crash=always", "--max-restarts", "100"],
      in: project, stdout: .pausedPipe)
    // stdout is stuck once flood.1 blocks on its full pipe.
    var flood: pid_t = 0
    XCTAssertTrue(
      eventually(timeout: 10) {
        flood = forge.children().map(\.pid).first(where: ProcFS.isBlockedOnPipeWrite) ?? 0
        return flood > 0
      }, "stdout never got stuck\n\(forge.transcript())")
    // Between two waves of restarts, flood.1 is forge's only child: the baseline.
    XCTAssertTrue(
      eventually(timeout: 10) { forge.children().map(\.pid) == [flood] },
      "the first crashes are not gone: \(forge.children().map(\.pid))")
    let baseline = try XCTUnwrap(HazardProbe.descriptorCount(forge.pid))
    // Three more waves come within 7.5 s (restarts 1, 2, 4 s apart): the count is sampled
    // meanwhile, and the crashes seen are counted.
    var highest = baseline
    var crashes = Set<pid_t>()
    let until = Date(timeIntervalSinceNow: 7.5)
    while Date() < until {
      if let count = HazardProbe.descriptorCount(forge.pid) { highest = max(highest, count) }
      for child in forge.children() where child.pid != flood { crashes.insert(child.pid) }
      Thread.sleep(forTimeInterval: 0.01)
    }
    XCTAssertTrue(forge.isRunning, forge.transcript())
    XCTAssertLessThanOrEqual(
      highest, baseline + 25, "forge's descriptors grew from \(baseline) to \(highest) while stdout was stuck")

    forge.send(SIGTERM)
    forge.stdout.resume()
    XCTAssertEqual(try forge.waitForExit(timeout: 30), 0, forge.transcript(lastLines: 20))
    // No line lost: each run of each crash instance printed one line, which arrives once, and
    // each run's exit is told. (While stdout lags, forge's own lines about an instance may come
    // before its output, so only the counts are compared.)
    var byInstance: [String: [String]] = [:]
    for line in forge.logLines where line.process.hasPrefix("crash.") {
      byInstance[line.process, default: []].append(line.text)
    }
    var runs = 0
    for number in 1...20 {
      let name = "crash.\(number)"
      let lines = byInstance[name] ?? []
      let starts = lines.filter { $0.hasPrefix("started with pid ") }.count
      let exits = lines.filter { $0 == "exited with code 1" }.count
      let output = lines.filter { $0.hasPrefix("crash \(name) ") }
      // A run caught by the stop may have been killed before it printed.
      let killed = lines.contains("terminated by SIGTERM") ? 1 : 0
      runs += starts
      XCTAssertLessThanOrEqual(output.count, starts, "\(name): \(lines)")
      XCTAssertGreaterThanOrEqual(output.count, starts - killed, "\(name): a line was lost: \(lines)")
      XCTAssertEqual(Set(output).count, output.count, "\(name): a line printed twice: \(output)")
      XCTAssertEqual(exits + killed, starts, "\(name): an exit line is missing: \(lines)")
    }
    XCTAssertGreaterThanOrEqual(runs, 20 * 3, "at least three waves ran (\(crashes.count) crashes seen in /proc)")
    XCTAssertFalse(forge.stdout.text.contains("messages dropped"), forge.transcript(lastLines: 20))
  }

  // MARK: - forge's own messages while stdout is stuck (hazard 7)

  func testForgeMessagesAndMemoryStayBoundedWhileStdoutIsStuck() throws {
    // flood.1 fills forge's buffer to its high-water mark (1 MiB less 64.5 KiB); forge's own
    // messages may take 256 KiB beyond the buffer, about 330 KB in all. With a long type name
    // and timestamps each is about 100 bytes, and 600 instances exiting at once say about
    // 180 KB per wave (started, exited, restarting): three waves are more than enough.
    let type = String(repeating: "c", count: 63)
    let instances = 600
    let project = try makeProject(["Procfile": "flood: exec yes\n\(type): echo x >> spawns; exit 1\n"])
    let forge = try launch(
      [
        "start", "-t", "2", "-m", "flood=1,\(type)=\(instances)", "--restart", "\(type)=always",
        "--max-restarts", "100", "--timestamp",
      ], in: project, stdout: .pausedPipe)
    var highest = 0
    let spawns = { (project.read("spawns")?.utf8.count ?? 0) / 2 }
    let threeWaves = eventually(timeout: 14) {
      if let rss = HazardProbe.residentKiB(forge.pid) { highest = max(highest, rss) }
      return spawns() >= 3 * instances
    }
    // Under a sanitizer (make test-asan) forge is several times slower and its memory is the
    // sanitizer's shadow and quarantine: the waves and the bound are for a plain build.
    let sanitized = ProcessInfo.processInfo.environment["FORGE_TEST_SANITIZER"] != nil
    if !sanitized {
      XCTAssertTrue(threeWaves, "only \(spawns()) spawns\n\(forge.transcript())")
      XCTAssertLessThan(highest, 64 * 1024, "forge's RSS reached \(highest) KiB while stdout was stuck")
    }
    XCTAssertTrue(forge.isRunning, forge.transcript())

    forge.send(SIGTERM)
    forge.stdout.resume()
    XCTAssertEqual(try forge.waitForExit(timeout: 30), 0, forge.transcript(lastLines: 20))
    let dropped = forge.stdout.lines.filter { $0.contains("of forge's own messages dropped while stdout was blocked") }
    XCTAssertEqual(dropped.count, 1, "the number dropped is told once\n\(forge.transcript(lastLines: 20))")
    if let line = dropped.first.flatMap(LogLine.init) {
      XCTAssertEqual(line.process, "forge")
      XCTAssertGreaterThan(Int(line.text.prefix { $0.isNumber }) ?? 0, 0, line.text)
    }
  }

  // MARK: - Pipes grown only when chatty (hazard 6)

  func testOnlyAChattyPipeIsGrown() throws {
    let project = try makeProject([
      "Procfile": "idle: echo \"idle pid=$$\"; exec sleep 600\nflood: echo \"flood pid=$$\"; exec yes\n"
    ])
    let forge = try launch(["start", "-t", "2"], in: project, stdout: .trickle)
    let idle = try XCTUnwrap(
      HelperScripts.pid("pid", in: try forge.waitForLine(containing: "idle pid=", from: "idle.1")))
    let flood = try XCTUnwrap(
      HelperScripts.pid("pid", in: try forge.waitForLine(containing: "flood pid=", from: "flood.1")))
    XCTAssertTrue(
      eventually(timeout: 10) { HazardProbe.stdoutPipeSize(of: flood) == 256 << 10 },
      "flood.1's pipe: \(HazardProbe.stdoutPipeSize(of: flood) ?? -1) bytes")
    XCTAssertEqual(HazardProbe.stdoutPipeSize(of: idle), 64 << 10, "idle.1's pipe keeps the default size")
    forge.send(SIGTERM)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript(lastLines: 10))
  }

  /// `yes` with a 200-byte line writes 8040 bytes at a time: each write takes two pages of the
  /// pipe, so a full 64 KiB pipe holds 64,320 bytes and no read ever takes 65,536. Such a
  /// process is as chatty as any.
  func testAChattyPipeIsGrownWhateverTheSizeOfItsWrites() throws {
    let line = String(repeating: "f", count: 200)
    let project = try makeProject(["Procfile": "flood: echo \"flood pid=$$\"; exec yes \(line)\n"])
    let forge = try launch(["start", "-t", "2"], in: project, stdout: .trickle)
    let flood = try XCTUnwrap(
      HelperScripts.pid("pid", in: try forge.waitForLine(containing: "flood pid=", from: "flood.1")))
    try forge.waitForLine(containing: line, from: "flood.1")
    XCTAssertTrue(
      eventually(timeout: 5) { HazardProbe.stdoutPipeSize(of: flood) == 256 << 10 },
      "flood.1 floods, yet its pipe stays at \(HazardProbe.stdoutPipeSize(of: flood) ?? -1) bytes")
    forge.send(SIGTERM)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript(lastLines: 10))
  }
}

/// Process state from /proc for the hazard tests.
enum HazardProbe {
  /// How many descriptors `pid` has open.
  static func descriptorCount(_ pid: pid_t) -> Int? {
    try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count
  }

  /// VmRSS of `pid` in KiB.
  static func residentKiB(_ pid: pid_t) -> Int? {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
      let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
    else { return nil }
    // "VmRSS:\t    1234 kB"
    return Int(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first ?? "")
  }

  /// The capacity of the pipe on descriptor 1 of `pid` (F_GETPIPE_SZ on a second write end
  /// opened through /proc), or nil.
  static func stdoutPipeSize(of pid: pid_t) -> Int32? {
    let fd = open("/proc/\(pid)/fd/1", O_WRONLY | O_NONBLOCK | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    let size = fcntl(fd, 1032)  // F_GETPIPE_SZ
    return size > 0 ? size : nil
  }
}
