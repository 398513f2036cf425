import Foundation
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// How a `logs` stream reaches its client (docs/control-protocol.md): a request with
/// `"pipe": true` gets the read end of a pipe with its reply, and everything after the reply
/// comes through that pipe (forge fills it by reference, `SpliceRing`); without it, the stream
/// follows the reply on the socket, as before. Spoken by a raw client (Python's socket module)
/// so the protocol itself is checked, not forge's own client.
final class LogsTransportTests: ForgeControlTestCase {
  /// Sends a following `logs` request, says what came with the reply, then copies the stream
  /// to stdout until it ends and says `end`.
  private let client = """
    import json, os, socket, stat, sys
    pipe = sys.argv[1] == "pipe"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(".forge.sock")
    request = {"command": "logs", "targets": ["web"], "lines": 10, "follow": True, "json": False,
               "timestamps": None, "pipe": pipe}
    s.sendall(json.dumps(request).encode() + b"\\n")
    data, fds, _, _ = socket.recv_fds(s, 65536, 4)
    while b"\\n" not in data:
        more, more_fds, _, _ = socket.recv_fds(s, 65536, 4)
        data, fds = data + more, fds + more_fds
    reply, _, rest = data.partition(b"\\n")
    kind = "fifo" if fds and stat.S_ISFIFO(os.fstat(fds[0]).st_mode) else "none"
    print("reply ok=%s descriptors=%d kind=%s" % (json.loads(reply)["ok"], len(fds), kind), flush=True)
    if fds:
        print("socket after the reply: %r" % s.recv(100), flush=True)
        read = lambda: os.read(fds[0], 65536)
    else:
        read = lambda: s.recv(65536)
    sys.stdout.buffer.write(rest)
    sys.stdout.flush()
    while True:
        chunk = read()
        if not chunk:
            break
        sys.stdout.buffer.write(chunk)
        sys.stdout.flush()
    print("end", flush=True)
    """

  func testAFollowerThatAsksForAPipeGetsItsStreamThroughIt() throws {
    let follower = try follow(pipe: true)
    try follower.waitForLine(containing: "reply ok=True descriptors=1 kind=fifo")
    try follower.waitForLine(containing: "socket after the reply: b''")
  }

  func testAFollowerThatDoesNotAskForAPipeGetsItsStreamOnTheSocket() throws {
    let follower = try follow(pipe: false)
    try follower.waitForLine(containing: "reply ok=True descriptors=0 kind=none")
  }

  /// Each pipe's memory counts against the user's pipe limit: beyond 8 followers with a pipe,
  /// the next one that asks gets its stream on the socket, whole all the same.
  func testBeyondEightPipedFollowersTheNextGetsTheSocket() throws {
    let follower = try follow(pipe: true, othersFollowing: 8)
    try follower.waitForLine(containing: "reply ok=True descriptors=0 kind=none")
  }

  /// A formation whose web prints a line, waits for the file `go`, prints another; a raw
  /// follower that gets the first from the history and the second live, and its `end` when
  /// forge stops.
  private func follow(pipe: Bool, othersFollowing: Int = 0) throws -> ForgeProcess {
    let python = try Readiness.requirePython()
    let project = try makeProject([
      "Procfile": "web: echo before the follower; \(Readiness.gate("go")); echo after it; exec sleep 600\n",
      "client.py": client,
    ])
    let forge = try launch(["start", "-t", "1"], in: project)
    try forge.waitForLine(containing: "before the follower", from: "web.1")
    for _ in 0..<othersFollowing {
      let other = try launch(["logs", "-f", "web"], in: project)
      try other.waitForLine(containing: "before the follower", from: "web.1")
    }
    let follower = try launchProgram(python, ["client.py", pipe ? "pipe" : "socket"], in: project)
    try follower.waitForLine(containing: "before the follower", from: "web.1")
    try project.write("go", "")
    try follower.waitForLine(containing: "after it", from: "web.1")
    forge.send(SIGTERM)
    XCTAssertEqual(try forge.waitForExit(), 0, forge.transcript())
    try follower.waitForLine(containing: "end")
    XCTAssertEqual(try follower.waitForExit(), 0, follower.transcript())
    XCTAssertEqual(follower.stderr.text, "")
    XCTAssertTrue(
      follower.stdout.lines.contains { LogLine($0)?.text == "terminated by SIGTERM" }, follower.transcript())
    return follower
  }
}
