import CGlibcLinux
import Glibc

/// The client side of the control socket: one request, one reply line.
struct ControlClient {
  enum Failure: Error {
    /// Nothing listens at the path (or it does not exist).
    case notRunning
    /// forge closed the connection without a reply: it was exiting.
    case closedWithoutReply
    case failed(String)
  }

  let path: String
  let connection: FileDescriptor

  static func connect(_ path: String) throws(Failure) -> ControlClient {
    do {
      return ControlClient(path: path, connection: try UnixSocket.connect(path))
    } catch {
      switch error.errno {
      case ENOENT, ECONNREFUSED, ENOTSOCK, ENOTDIR: throw .notRunning
      default: throw .failed(error.description)
      }
    }
  }

  /// Sends the request and reads the reply object (waiting at most `timeoutMilliseconds`).
  func send(_ request: ControlRequest, timeoutMilliseconds: Int32 = 15_000) throws(Failure) -> JSONValue {
    var writeFailure: SystemError? = nil
    do {
      try connection.writeAll(Array((request.encoded() + "\n").utf8))
    } catch {
      // forge may have answered and closed already (a refusal): its reply is still readable.
      writeFailure = error
    }
    var reply: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while !reply.contains(0x0A) {
      guard waitReadable(timeoutMilliseconds) else { throw .failed("no reply from forge at \(path)") }
      guard let count = readChunk(&chunk), count > 0 else { break }
      reply.append(contentsOf: chunk[0..<count])
      if reply.count > 16 << 20 { throw .failed("reply too large") }
    }
    guard let newline = reply.firstIndex(of: 0x0A) else {
      // The request could not even be written when forge had closed its end first.
      if let writeFailure, writeFailure.errno != EPIPE && writeFailure.errno != ECONNRESET {
        throw .failed(writeFailure.description)
      }
      throw .closedWithoutReply
    }
    do {
      return try JSONValue.parse(Array(reply[..<newline]))
    } catch {
      throw .failed("unreadable reply: \(error.message)")
    }
  }

  /// `forge logs`, `forge events`: the reply, then (when it is ok) everything forge streams
  /// after it, handed to `output` until forge closes the connection, or the pipe that came
  /// with the reply (`forge logs -f` asks for one: `LogFollowers.add`).
  /// With `untilReply`, it returns after the reply (what came after it goes to `output`).
  /// `output` returns false to end the stream early.
  func stream(
    _ request: ControlRequest, output: (UnsafeRawBufferPointer) -> Bool, untilReply: Bool = false
  ) throws(Failure) -> JSONValue {
    do {
      try connection.writeAll(Array((request.encoded() + "\n").utf8))
    } catch {
      throw .failed(error.description)
    }
    var received: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    var pipe: FileDescriptor? = nil
    while !received.contains(0x0A) {
      guard waitReadable(15_000) else { throw .failed("no reply from forge at \(path)") }
      let count = chunk.withUnsafeMutableBytes { try? UnixSocket.receive(on: connection, into: $0, passed: &pipe) }
      guard let count, count > 0 else { throw .closedWithoutReply }
      received.append(contentsOf: chunk[0..<count])
    }
    let newline = received.firstIndex(of: 0x0A)!
    let reply: JSONValue
    do {
      reply = try JSONValue.parse(Array(received[..<newline]))
    } catch {
      throw .failed("unreadable reply: \(error.message)")
    }
    guard reply["ok"] == .bool(true) else { return reply }
    if newline + 1 < received.count, !received[(newline + 1)...].withUnsafeBytes({ output($0) }) { return reply }
    if untilReply { return reply }
    // The stream itself (all of a busy formation's log with `forge logs -f`): large reads
    // straight into one buffer. The wait before each read is in poll(2), where a waiting
    // client can be seen subscribed.
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 * 1024, alignment: 64)
    defer { buffer.deallocate() }
    let source = pipe ?? connection
    if pipe != nil { connection.close() }
    while true {
      _ = Self.waitReadable(source, -1)
      let count: Int?
      do {
        count = try source.read(into: buffer)
      } catch {
        return reply
      }
      guard let count else { continue }
      guard count > 0, output(UnsafeRawBufferPointer(rebasing: buffer[0..<count])) else { return reply }
    }
  }

  /// Waits until forge has exited: its descriptors close during exit, slightly before the
  /// process is gone, so the connection's end is followed by a wait on a pidfd of forge.
  /// forge's pid comes from the socket's peer credentials, which the kernel gives in this
  /// process's PID namespace (forge may be PID 1 of another one).
  /// forge's exit status, when it said it before exiting.
  @discardableResult
  func waitForExit() -> Int32? {
    let pid = UnixSocket.peerPID(connection)
    let said = waitForClose()
    var status: Int32?
    if let newline = said.firstIndex(of: 0x0A), let farewell = try? JSONValue.parse(Array(said[..<newline])) {
      status = farewell["status"]?.integer.map { Int32(truncatingIfNeeded: $0) }
    }
    guard let pid, pid > 0 else { return status }
    let raw = cglibc_pidfd_open(pid)
    guard raw >= 0 else { return status }  // already reaped
    let fd = FileDescriptor(raw)
    var entry = pollfd(fd: fd.raw, events: Int16(POLLIN), revents: 0)
    while poll(&entry, 1, -1) < 0 && cglibc_errno() == EINTR {}
    return status
  }

  /// Waits until forge closes the connection, which it does by exiting; what it said last.
  private func waitForClose() -> [UInt8] {
    var chunk = [UInt8](repeating: 0, count: 4096)
    var said: [UInt8] = []
    while true {
      _ = waitReadable(-1)
      guard let count = readChunk(&chunk), count > 0 else { return said }
      if said.count < 65536 { said += chunk[0..<count] }
    }
  }

  /// One read; nil on error (treated like end of file by the callers).
  private func readChunk(_ chunk: inout [UInt8]) -> Int? {
    do {
      return try connection.read(into: &chunk) ?? 0
    } catch {
      return nil
    }
  }

  private func waitReadable(_ milliseconds: Int32) -> Bool {
    Self.waitReadable(connection, milliseconds)
  }

  private static func waitReadable(_ fd: FileDescriptor, _ milliseconds: Int32) -> Bool {
    var entry = pollfd(fd: fd.raw, events: Int16(POLLIN), revents: 0)
    while true {
      let n = poll(&entry, 1, milliseconds)
      if n < 0 && cglibc_errno() == EINTR { continue }
      return n > 0
    }
  }
}
