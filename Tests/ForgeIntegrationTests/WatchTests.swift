import Foundation
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// `--watch TYPE=PATTERNS` (`FORGE_WATCH`): a changed file restarts its type, and only it,
/// once per debounced burst, with one more restart for changes made during a restart; new
/// directories are watched, `.git`, `node_modules` and `__pycache__` are not.
///
/// "Nothing more happened" is shown with a sentinel: a change for the worker (watching
/// `jobs/**`), made after the changes under test. The debounce is one for all types, so once
/// the worker's restart has been announced, any restart those earlier changes caused would
/// have been announced too.
final class WatchTests: ForgeControlTestCase {
  private let procfile = "web: exec ./service.sh\nworker: exec ./service.sh\n"

  private func files(_ procfile: String? = nil) -> [String: String] {
    [
      "Procfile": procfile ?? self.procfile, "service.sh": HelperScripts.service, "app/models.py": "x = 0\n",
      "jobs/.keep": "",
    ]
  }

  private func start(
    _ project: ForgeProject, _ arguments: [String], environment: [String: String] = [:], ready: [String]
  ) throws -> ForgeProcess {
    let forge = try launch(
      ["start", "-t", "3", "--ready", "web=log:ready pid,worker=log:ready pid"] + arguments, in: project,
      environment: environment)
    for instance in ready { try forge.waitForLine(containing: "ready pid=", from: instance) }
    return forge
  }

  private func stop(_ forge: ForgeProcess, file: StaticString = #filePath, line: UInt = #line) throws {
    forge.send(SIGTERM)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript(), file: file, line: line)
  }

  /// The `… changed, restarting` lines of an instance.
  private func restarts(of instance: String, in forge: ForgeProcess) -> [String] {
    forge.lines(of: instance).filter { $0.hasSuffix(" changed, restarting") }
  }

  /// Changes a file of the worker's (for the first time) and waits until it is back.
  private func sentinel(_ project: ForgeProject, _ forge: ForgeProcess) throws {
    try project.write("jobs/tick", "1\n")
    try forge.waitForLine(containing: "jobs/tick changed, restarting", from: "worker.1")
    try forge.waitForLine(containing: "ready pid=", from: "worker.1", count: 2)
  }

  func testChangedFileRestartsOnlyItsTypeOneInstanceAtATime() throws {
    let project = try makeProject(files())
    let forge = try start(
      project, ["-m", "web=2,worker=1", "--watch", "web=app/**/*.py", "--watch", "worker=jobs/**"],
      ready: ["web.1", "web.2", "worker.1"])
    let release = try ReloadSupport.startingRelease(of: forge)
    let before = try processTable(in: project)

    try project.write("app/models.py", "x = 1\n")
    for instance in ["web.1", "web.2"] {
      try forge.waitForLine(containing: "app/models.py changed, restarting", from: instance)
      try forge.waitForLine(containing: "ready pid=", from: instance, count: 2)
    }
    // web.2 is stopped once web.1 is back.
    let back = try ReloadSupport.index(of: "ready pid=", from: "web.1", count: 2, in: forge)
    XCTAssertLessThan(back, try ReloadSupport.index(of: "got TERM", from: "web.2", in: forge), forge.transcript())
    let after = try processTable(in: project)
    for name in ["web.1", "web.2"] { XCTAssertNotEqual(try after.pid(name), try before.pid(name), after.text) }
    XCTAssertEqual(try after.pid("worker.1"), try before.pid("worker.1"), after.text)
    XCTAssertEqual(restarts(of: "worker.1", in: forge), [], forge.transcript())
    // The environment did not change, so neither did the release.
    XCTAssertEqual(after.rows.map(ReloadSupport.release), [release, release, release], after.text)
    XCTAssertFalse(forge.lines(of: "forge").contains { $0.hasPrefix("reload:") }, forge.transcript())
    try stop(forge)
  }

  func testBurstOfFiftyWritesRestartsOnce() throws {
    let project = try makeProject(files())
    let forge = try start(project, ["--watch", "web=app/**/*.py,worker=jobs/**"], ready: ["web.1", "worker.1"])
    var pauses: [Int] = []  // writes that came 100 ms or more after the one before (measured)
    var last = Date()
    for i in 1...50 {
      try project.write("app/models.py", "x = \(i)\n")
      let took = -last.timeIntervalSinceNow
      if took >= 0.1 { pauses.append(Int(took * 1000)) }
      last = Date()
    }
    try forge.waitForLine(containing: "app/models.py changed, restarting", from: "web.1")
    try forge.waitForLine(containing: "ready pid=", from: "web.1", count: 2)

    try sentinel(project, forge)
    let seen = restarts(of: "web.1", in: forge)
    let note = "pauses in the burst (ms): \(pauses)\n\(forge.transcript())"
    if pauses.isEmpty {
      XCTAssertEqual(seen, ["app/models.py changed, restarting"], note)
      XCTAssertEqual(forge.lines(of: "web.1").filter { $0.hasPrefix("started with pid") }.count, 2, note)
    } else {
      // The test was held up mid-burst for half the debounce or more (a busy machine): each
      // such pause may end a burst, for all forge can tell.
      XCTAssertLessThanOrEqual(seen.count, pauses.count + 1, note)
    }
    try stop(forge)
  }

  func testChangesDuringARestartMakeExactlyOneMore() throws {
    // web.1 waits for the file `go`, and takes it, before it is ready: the test decides when
    // each restart ends.
    let gated = "web: \(Readiness.gate("go")); rm go; exec ./service.sh\nworker: exec ./service.sh\n"
    let project = try makeProject(files(gated).merging(["go": ""]) { $1 })
    let forge = try start(project, ["--watch", "web=app/**/*.py,worker=jobs/**"], ready: ["web.1", "worker.1"])

    try project.write("app/a.py", "a\n")
    try forge.waitForLine(containing: "app/a.py changed, restarting", from: "web.1")
    try forge.waitForLine(containing: "started with pid", from: "web.1", count: 2)
    for i in 1...5 {
      try project.write("app/b.py", "b = \(i)\n")
      try project.write("app/c.py", "c = \(i)\n")
    }
    try project.write("go", "")
    try forge.waitForLine(containing: "ready pid=", from: "web.1", count: 2)
    try forge.waitForLine(containing: "app/b.py changed, restarting", from: "web.1")
    try forge.waitForLine(containing: "started with pid", from: "web.1", count: 3)
    try project.write("go", "")
    try forge.waitForLine(containing: "ready pid=", from: "web.1", count: 3)

    try sentinel(project, forge)
    XCTAssertEqual(
      restarts(of: "web.1", in: forge), ["app/a.py changed, restarting", "app/b.py changed, restarting"],
      forge.transcript())
    XCTAssertEqual(forge.lines(of: "web.1").filter { $0.hasPrefix("started with pid") }.count, 3)
    try stop(forge)
  }

  // MARK: - Which directories

  func testFileInANewSubdirectoryIsSeen() throws {
    let project = try makeProject(files())
    let forge = try start(project, ["--watch", "web=app/**/*.py"], ready: ["web.1", "worker.1"])
    try FileManager.default.createDirectory(
      atPath: project.path("app/new/deeper"), withIntermediateDirectories: true)
    let deeper = try XCTUnwrap(ReloadSupport.inode(project.path("app/new/deeper")))
    XCTAssertTrue(
      eventually(timeout: 5) { ReloadSupport.watchedInodes(of: forge.pid).contains(deeper) },
      "forge never watched the new directory\n\(forge.transcript())")

    try project.write("app/new/deeper/views.py", "v = 1\n")
    try forge.waitForLine(containing: "ready pid=", from: "web.1", count: 2)
    XCTAssertEqual(restarts(of: "web.1", in: forge), ["app/new/deeper/views.py changed, restarting"])
    try stop(forge)
  }

  /// A directory that arrives with its files (`mv`, an unpacked archive, a checkout) brings
  /// matching files that changed: they restart the type like any other new file.
  func testDirectoryMovedInWithAMatchingFileIsAChange() throws {
    let project = try makeProject(files().merging(["staging/pkg/views.py": "v = 1\n"]) { $1 })
    let forge = try start(
      project, ["--watch", "web=app/**/*.py,worker=jobs/**"], ready: ["web.1", "worker.1"])
    XCTAssertEqual(rename(project.path("staging/pkg"), project.path("app/pkg")), 0)
    // A later change to a file that was watched all along: the restart, whichever it is,
    // names the first file that changed.
    try project.write("app/models.py", "x = 1\n")
    let line = try forge.waitForLine(containing: "changed, restarting", from: "web.1")
    XCTAssertEqual(LogLine(line)?.text, "app/pkg/views.py changed, restarting", forge.transcript())
    try forge.waitForLine(containing: "ready pid=", from: "web.1", count: 2)
    // Files in it are watched from now on.
    try project.write("app/pkg/views.py", "v = 2\n")
    try forge.waitForLine(containing: "app/pkg/views.py changed, restarting", from: "web.1")
    try stop(forge)
  }

  func testVersionControlDependencyAndCacheDirectoriesAreIgnored() throws {
    let project = try makeProject(
      files().merging([".git/HEAD": "ref: refs/heads/main\n", "node_modules/left-pad/index.js": ""]) { $1 })
    let forge = try start(
      project, [], environment: ["FORGE_WATCH": "web=**/*.py,worker=jobs/**"], ready: ["web.1", "worker.1"])
    let ignored = [".git/hooks/pre-commit.py", ".git/x.py", "node_modules/left-pad/setup.py", "__pycache__/models.py"]
    for path in ignored { try project.write(path, "ignored\n") }
    try project.write("app/real.py", "r = 1\n")
    try forge.waitForLine(containing: "ready pid=", from: "web.1", count: 2)

    try sentinel(project, forge)
    XCTAssertEqual(restarts(of: "web.1", in: forge), ["app/real.py changed, restarting"], forge.transcript())
    try stop(forge)
  }
}
