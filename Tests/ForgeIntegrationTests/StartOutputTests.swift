import Foundation
import XCTest

/// `forge start`: the log stream (prefixes, forge's own lines), what each process gets
/// (PORT, PS, DYNO, environment), the formation, and how process output is passed through.
final class StartOutputTests: ForgeTestCase {
  /// Stops a formation whose processes run until signalled and asserts a clean exit.
  private func stop(_ forge: ForgeProcess, file: StaticString = #filePath, line: UInt = #line) throws {
    forge.send(SIGTERM)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript(), file: file, line: line)
  }

  func testFirstLineIsReleaseAndPrefixesArePaddedToLongestName() throws {
    let project = try makeProject([
      "Procfile": """
      web: echo "release=$FORGE_RELEASE"; exec sleep 600
      background_worker: echo hi; exec sleep 600

      """
    ])
    let forge = try launch(["start"], in: project)
    let released = try forge.waitForLine(containing: "release=", from: "web.1")
    try forge.waitForLine(containing: "hi", from: "background_worker.1")
    try stop(forge)

    let lines = forge.stdout.lines
    let width = "background_worker.1".count
    func prefix(_ name: String) -> String { name.padding(toLength: width, withPad: " ", startingAt: 0) + " | " }
    let first = try XCTUnwrap(lines.first)
    XCTAssertTrue(first.hasPrefix(prefix("forge") + "release "), "first line: \(first)")
    let id = String(first.dropFirst(prefix("forge").count + "release ".count))
    XCTAssertNotNil(id.range(of: "^[0-9a-f]{8}$", options: .regularExpression), "release id \(id)")
    XCTAssertEqual(HelperScripts.value("release", in: released), id, "FORGE_RELEASE is the release id")
    for line in lines {
      XCTAssertTrue(
        line.hasPrefix(prefix("forge")) || line.hasPrefix(prefix("web.1"))
          || line.hasPrefix(prefix("background_worker.1")), "badly prefixed: \(line)")
    }
    XCTAssertTrue(lines.contains(prefix("web.1") + "hi") == false)
    XCTAssertTrue(lines.contains(prefix("background_worker.1") + "hi"), forge.transcript())
  }

  func testShortNamesArePaddedToForgeWidth() throws {
    let project = try makeProject(["Procfile": "w: echo hello; exec sleep 600\n"])
    let forge = try launch(["start"], in: project)
    try forge.waitForLine(containing: "hello", from: "w.1")
    try stop(forge)
    let lines = forge.stdout.lines
    XCTAssertTrue(lines.contains("w.1   | hello"), forge.transcript())
    XCTAssertTrue(lines.contains("forge | sending SIGTERM to all processes"), forge.transcript())
    XCTAssertTrue(lines.contains("w.1   | terminated by SIGTERM"), forge.transcript())
  }

  func testStartedWithPidNamesTheProcess() throws {
    let project = try makeProject(["Procfile": "web: echo \"my pid=$$\"; exec sleep 600\n"])
    let forge = try launch(["start"], in: project)
    let own = try forge.waitForLine(containing: "my pid=", from: "web.1")
    try stop(forge)
    let started = try XCTUnwrap(forge.lines(of: "web.1").first { $0.hasPrefix("started with pid ") })
    XCTAssertEqual(started, "started with pid \(HelperScripts.value("pid", in: own) ?? "?")")
    let index = try XCTUnwrap(forge.lines(of: "web.1").firstIndex(of: started))
    XCTAssertEqual(index, 0, "the first web.1 line is its start: \(forge.transcript())")
  }

  func testPortPSAndDynoFollowFormation() throws {
    let project = try makeProject([
      "Procfile": """
      web: echo "port=$PORT ps=$PS dyno=$DYNO"; exec sleep 600
      worker: echo "port=$PORT ps=$PS"; exec sleep 600
      clock: echo "port=$PORT ps=$PS dyno=$DYNO"; exec sleep 600

      """
    ])
    let forge = try launch(["start", "-m", "web=2,clock=1", "-p", "6000"], in: project)
    let web1 = try forge.waitForLine(containing: "port=", from: "web.1")
    let web2 = try forge.waitForLine(containing: "port=", from: "web.2")
    let clock = try forge.waitForLine(containing: "port=", from: "clock.1")
    try stop(forge)
    XCTAssertTrue(web1.hasSuffix("| port=6000 ps=web.1 dyno=web.1"), web1)
    XCTAssertTrue(web2.hasSuffix("| port=6001 ps=web.2 dyno=web.2"), web2)
    XCTAssertTrue(clock.hasSuffix("| port=6200 ps=clock.1 dyno=clock.1"), clock)
    XCTAssertFalse(forge.logLines.contains { $0.process.hasPrefix("worker") }, "worker not in the formation")
  }

  func testBasePortFromEnvironmentThenDotEnvThenDefault() throws {
    let procfile = "web: echo \"port=$PORT\"; exec sleep 600\nworker: echo \"port=$PORT\"; exec sleep 600\n"
    let cases: [(files: [String: String], env: [String: String], web: String, worker: String)] = [
      ([:], ["PORT": "7000"], "7000", "7100"),
      ([".env": "PORT=8000\n"], [:], "8000", "8100"),
      ([:], [:], "5000", "5100"),
    ]
    for (files, env, web, worker) in cases {
      var all = files
      all["Procfile"] = procfile
      let project = try makeProject(all)
      let forge = try launch(["start"], in: project, environment: env)
      let webLine = try forge.waitForLine(containing: "port=", from: "web.1")
      let workerLine = try forge.waitForLine(containing: "port=", from: "worker.1")
      try stop(forge)
      XCTAssertTrue(webLine.hasSuffix("port=\(web)"), "\(files) \(env): \(webLine)")
      XCTAssertTrue(workerLine.hasSuffix("port=\(worker)"), "\(files) \(env): \(workerLine)")
    }
  }

  func testFormationAllStartsEveryTypeNTimes() throws {
    let project = try makeProject([
      "Procfile": "web: echo \"up $PS\"; exec sleep 600\nworker: echo \"up $PS\"; exec sleep 600\n"
    ])
    let forge = try launch(["start", "-m", "all=2"], in: project)
    for name in ["web.1", "web.2", "worker.1", "worker.2"] {
      try forge.waitForLine(containing: "up \(name)", from: name)
    }
    try stop(forge)
    let started = Set(forge.logLines.filter { $0.text.hasPrefix("started with pid") }.map(\.process))
    XCTAssertEqual(started, ["web.1", "web.2", "worker.1", "worker.2"])
  }

  func testStartNamedTypeRunsOnlyThatType() throws {
    let project = try makeProject([
      "Procfile": "web: echo web-up; exec sleep 600\nworker: echo worker-up; exec sleep 600\n"
    ])
    let forge = try launch(["start", "web"], in: project)
    try forge.waitForLine(containing: "web-up", from: "web.1")
    try stop(forge)
    XCTAssertEqual(Set(forge.logLines.map(\.process)), ["forge", "web.1"], forge.transcript())
  }

  func testStartUnknownTypeIsAnError() throws {
    let project = try makeProject(["Procfile": "web: sleep 600\n"])
    let result = try runForge(["start", "nope"], in: project)
    XCTAssertEqual(result.status, 2)
    XCTAssertEqual(result.stderr, "forge: Procfile: no process type \"nope\" (defined: web)\n")
    XCTAssertEqual(result.stdout, "")
  }

  func testProcessesSeeForgeEnvironmentOverDotEnvAndRunInTheRoot() throws {
    let project = try makeProject([
      "Procfile": "web: echo \"foo=$FOO bar=$BAR cwd=$(pwd)\"; exec sleep 600\n",
      ".env": "FOO=file\nBAR=file\n",
    ])
    let forge = try launch(["start"], in: project, environment: ["FOO": "env"])
    let line = try forge.waitForLine(containing: "foo=", from: "web.1")
    try stop(forge)
    XCTAssertTrue(line.hasSuffix("| foo=env bar=file cwd=\(project.directory)"), line)
  }

  func testNonexistentCommandReportsAndExits127() throws {
    let project = try makeProject(["Procfile": "web: no-such-command-forge-itest\n"])
    let forge = try launch(["start"], in: project)
    XCTAssertEqual(try forge.waitForExit(), 127, forge.transcript())
    let web = forge.lines(of: "web.1")
    XCTAssertTrue(web.contains { $0.contains("no-such-command-forge-itest") && $0.contains("not found") }, "\(web)")
    XCTAssertEqual(web.last, "exited with code 127")
  }

  func testPartialFinalLineIsPrinted() throws {
    let project = try makeProject(["Procfile": "web: printf 'first\\nno newline at the end'\n"])
    let forge = try launch(["start"], in: project)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript())
    let web = forge.lines(of: "web.1")
    XCTAssertEqual(web.count, 4, "\(web)")
    XCTAssertEqual(Array(web.dropFirst()), ["first", "no newline at the end", "exited with code 0"])
    XCTAssertTrue(forge.stdout.text.hasSuffix("\n"), "every line of forge's own ends in a newline")
  }

  func testLinesKeepTheirOrderPerProcessAndAreNeverMixed() throws {
    let count = 3000
    let payload = String(repeating: "x", count: 300)
    func writer(_ name: String) -> String {
      "awk 'BEGIN { for (i = 1; i <= \(count); i++) printf \"\(name) %d \(payload)\\n\", i }';"
        + " echo \(name)-done; exec sleep 600"
    }
    let project = try makeProject(["Procfile": "web: \(writer("web"))\nworker: \(writer("worker"))\n"])
    let forge = try launch(["start"], in: project)
    try forge.waitForLine(containing: "web-done", from: "web.1", timeout: 60)
    try forge.waitForLine(containing: "worker-done", from: "worker.1", timeout: 60)
    try stop(forge)

    var numbers: [String: [Int]] = ["web.1": [], "worker.1": []]
    for line in forge.stdout.lines {
      guard let parsed = LogLine(line), ["forge", "web.1", "worker.1"].contains(parsed.process) else {
        XCTFail("not a well-formed log line: \(line.prefix(200))")
        continue
      }
      let words = parsed.text.split(separator: " ")
      guard words.count == 3, words[0] == "web" || words[0] == "worker" else { continue }
      XCTAssertTrue(parsed.process.hasPrefix(words[0] + "."), "a line under another's prefix: \(line.prefix(200))")
      XCTAssertEqual(String(words[2]), payload, "a torn or mixed line: \(line.prefix(200))")
      numbers[parsed.process]?.append(Int(words[1]) ?? -1)
    }
    for name in ["web.1", "worker.1"] {
      let got = numbers[name] ?? []
      let firstWrong = zip(got, 1...count).first { $0 != $1 }
      XCTAssertEqual(got.count, count, "\(name): every line once")
      XCTAssertNil(firstWrong, "\(name): lines out of order at \(String(describing: firstWrong))")
    }
  }

  func testLineLongerThan64KiBIsPrintedInPrefixedPieces() throws {
    let project = try makeProject([
      "Procfile": "web: head -c 70000 /dev/zero | tr '\\0' a; echo; echo after\n"
    ])
    let forge = try launch(["start"], in: project)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript(lastLines: 5))
    let web = forge.lines(of: "web.1").filter { !$0.isEmpty && $0.allSatisfy { $0 == "a" } }
    XCTAssertEqual(web.map(\.count), [65536, 70000 - 65536])
    XCTAssertTrue(forge.lines(of: "web.1").contains("after"))
  }

  func testStderrIsMergedKeepingOrder() throws {
    let project = try makeProject(["Procfile": "web: echo one; echo two >&2; echo three; echo four >&2\n"])
    let forge = try launch(["start"], in: project)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript())
    XCTAssertEqual(Array(forge.lines(of: "web.1").dropFirst().prefix(4)), ["one", "two", "three", "four"])
    XCTAssertEqual(forge.stderr.text, "", "process output goes to stdout")
  }

  func testBytesArePassedThroughUnchanged() throws {
    let project = try makeProject(["Procfile": "web: printf 'bad \\377 byte\\tand\\r cr\\n\\nafter empty\\n'\n"])
    let forge = try launch(["start"], in: project)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript())
    let expected = Array("web.1 | bad ".utf8) + [0xFF] + Array(" byte\tand\r cr\nweb.1 | \nweb.1 | after empty\n".utf8)
    let output = forge.stdout.bytes
    XCTAssertNotNil(
      output.indices.first { output[$0...].starts(with: expected) },
      "raw bytes not found in \(forge.stdout.text.debugDescription)")
  }

  func testTwoDigitInstanceNumbersWidenEveryPrefix() throws {
    let project = try makeProject(["Procfile": "web: echo \"port=$PORT\"; exec sleep 600\n"])
    let forge = try launch(["start", "-m", "web=10"], in: project)
    let last = try forge.waitForLine(containing: "port=", from: "web.10")
    for n in 1...9 { try forge.waitForLine(containing: "port=", from: "web.\(n)") }
    XCTAssertEqual(last, "web.10 | port=5009")
    try stop(forge)
    let lines = forge.stdout.lines
    XCTAssertTrue(lines[0].hasPrefix("forge  | release "), lines[0])
    XCTAssertTrue(lines.contains("web.1  | port=5000"), forge.transcript())
    XCTAssertTrue(lines.contains("forge  | sending SIGTERM to all processes"), forge.transcript())
    XCTAssertEqual(lines.filter { $0.hasSuffix("| terminated by SIGTERM") }.count, 10, forge.transcript())
  }

  func testProcfileInAnotherDirectoryRunsThereWithItsEnvFile() throws {
    let project = try makeProject([
      "app/Procfile": "web: echo \"cwd=$(pwd) from=$FROM\"; exec sleep 600\n",
      "app/.env": "FROM=app-env\n",
      ".env": "FROM=top-env\n",
    ])
    let forge = try launch(["start", "-f", "app/Procfile"], in: project)
    let line = try forge.waitForLine(containing: "cwd=", from: "web.1")
    try stop(forge)
    XCTAssertTrue(line.hasSuffix("| cwd=\(project.path("app")) from=app-env"), line)
    XCTAssertTrue(project.exists("app/.forge.sock") == false, "the control socket is removed at exit")
  }

  func testFormationFromVariable() throws {
    let project = try makeProject(["Procfile": "web: echo \"up $PS\"; exec sleep 600\nworker: exec sleep 600\n"])
    let forge = try launch(["start"], in: project, environment: ["FORGE_FORMATION": "web=2"])
    try forge.waitForLine(containing: "up web.2", from: "web.2")
    try forge.waitForLine(containing: "up web.1", from: "web.1")
    try stop(forge)
    XCTAssertFalse(forge.logLines.contains { $0.process.hasPrefix("worker") }, forge.transcript())
  }

  func testSecondForgeInTheSameRootRefusesToStart() throws {
    let project = try makeProject(["Procfile": "web: echo up; exec sleep 600\n"])
    let first = try launch(["start"], in: project)
    try first.waitForLine(containing: "up", from: "web.1")
    let second = try runForge(["start"], in: project)
    XCTAssertEqual(second.status, 1)
    XCTAssertEqual(
      second.stderr,
      "forge: another forge is already running here (control socket \(project.path(".forge.sock")))\n")
    XCTAssertTrue(first.isRunning)
    try stop(first)
  }

  func testBadPortIsAnError() throws {
    let project = try makeProject(["Procfile": "web: sleep 600\n", ".env": "PORT=http\n"])
    let fromFile = try runForge(["start"], in: project)
    XCTAssertEqual(fromFile.status, 2)
    XCTAssertEqual(fromFile.stderr, "forge: PORT: expected a port from 1 to 65535, got \"http\"\n")
    let fromFlag = try runForge(["start", "-p", "70000"], in: project)
    XCTAssertEqual(fromFlag.status, 2)
    XCTAssertEqual(fromFlag.stderr, "forge: --port: expected a port from 1 to 65535, got \"70000\"\n")
  }

  func testFormationRunningNothingIsAnError() throws {
    let project = try makeProject(["Procfile": "web: sleep 600\n"])
    let result = try runForge(["start", "-m", "web=0"], in: project)
    XCTAssertEqual(result.status, 2)
    XCTAssertEqual(result.stderr, "forge: --formation: the formation runs no process\n")
  }

  func testProcessStartsInItsOwnSessionWithCleanState() throws {
    let project = try makeProject(["Procfile": "web: echo \"ready pid=$$\"; exec sleep 600\n"])
    let forge = try launch(["start"], in: project)
    let ready = try forge.waitForLine(containing: "ready", from: "web.1")
    let pid = try XCTUnwrap(HelperScripts.pid("pid", in: ready))
    XCTAssertTrue(eventually(timeout: 5) { ProcFS.commandLine(pid) == "sleep 600" }, "never exec'd sleep")
    let stat = try XCTUnwrap(ProcFS.stat(pid))
    XCTAssertEqual(stat.ppid, forge.pid, "a child of forge")
    XCTAssertEqual(stat.session, pid, "a session leader")
    XCTAssertEqual(stat.pgrp, pid, "leads its own process group")

    // Right after exec the dynamic loader briefly holds descriptor 3 (ld.so.cache, libc), so
    // the set is checked until it settles; a leaked descriptor stays.
    func fds() -> [String] {
      ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []).sorted()
    }
    XCTAssertTrue(eventually(timeout: 5) { fds() == ["0", "1", "2"] }, "descriptors leaked into the process: \(fds())")
    let target = { (fd: String) in try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(fd)") }
    XCTAssertEqual(target("0"), "/dev/null", "stdin")
    XCTAssertEqual(target("1"), target("2"), "stdout and stderr share one pipe")
    XCTAssertTrue(target("1")?.hasPrefix("pipe:") ?? false, "\(String(describing: target("1")))")

    let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
    let fields = Dictionary(
      status.split(separator: "\n").compactMap { line -> (String, String)? in
        let parts = line.split(separator: ":", maxSplits: 1)
        return parts.count == 2 ? (String(parts[0]), parts[1].trimmingCharacters(in: .whitespaces)) : nil
      }, uniquingKeysWith: { first, _ in first })
    XCTAssertEqual(fields["SigBlk"], "0000000000000000", "no signal blocked")
    // Standard signals only: glibc's posix_spawn leaves its two internal real-time signals
    // (32 and 33, which sigfillset does not include) ignored in the child, so the mask reads
    // 0000000180000000. glibc programs re-install their handlers at start-up.
    let ignored = UInt64(fields["SigIgn"] ?? "", radix: 16)
    XCTAssertEqual(ignored.map { $0 & 0x7FFF_FFFF }, 0, "no standard signal (1-31) ignored: \(fields["SigIgn"] ?? "?")")
    try stop(forge)
  }
}
