import Glibc

/// Serving the control socket from the event loop: accepting clients, reading one request each,
/// writing the reply without blocking, and dropping clients that send nothing. What a request
/// does is the supervisor's business (`respond`).
final class ControlSession {
  /// The reply, or nil when the supervisor answers later (`answer`).
  typealias Responder = (ControlRequest, ControlConnection) throws(ControlError) -> String?

  static let acceptPause: Deadline = 1_000_000_000

  let server: ControlServer
  private let loop: Epoll
  private let listenerToken: UInt64
  private var clients: [UInt64: ControlConnection] = [:]
  private var nextToken: UInt64
  private var refusedUIDs: Set<UInt32> = []
  /// When the listener is watched again after accept or epoll failed.
  private var resumeAt: Deadline?
  private var failureAnnounced = false
  private var notices: [String] = []

  init(server: ControlServer, loop: Epoll, listenerToken: UInt64, firstClientToken: UInt64) {
    self.server = server
    self.loop = loop
    self.listenerToken = listenerToken
    self.nextToken = firstClientToken
  }

  /// Watches the listener; on failure, says so and tries again in a second.
  func start(now: Deadline) {
    watchListener(now: now)
  }

  /// What to tell in the log since the last call.
  func takeNotices() -> [String] {
    defer { notices = [] }
    return notices
  }

  func owns(_ token: UInt64) -> Bool { clients[token] != nil }

  var nextDeadline: Deadline? {
    var next = resumeAt
    for client in clients.values {
      if let deadline = client.deadline, deadline < (next ?? .max) { next = deadline }
    }
    return next
  }

  private func watchListener(now: Deadline) {
    do {
      try loop.add(server.listener.raw, events: Epoll.input, token: listenerToken)
      resumeAt = nil
    } catch {
      pauseListener(now: now, because: error)
    }
  }

  private func pauseListener(now: Deadline, because error: SystemError) {
    loop.remove(server.listener.raw)
    resumeAt = now &+ Self.acceptPause
    if !failureAnnounced {
      failureAnnounced = true
      notices.append("control socket: \(error); not accepting connections for a second")
    }
  }

  func acceptReady(now: Deadline) {
    while true {
      let accepted: FileDescriptor?
      do {
        accepted = try UnixSocket.accept(server.listener)
      } catch {
        // Out of descriptors (EMFILE, ENFILE) or memory: the pending connection stays queued
        // and the listener stays readable, so stop watching it for a second rather than spin.
        pauseListener(now: now, because: error)
        return
      }
      failureAnnounced = false
      guard let fd = accepted else { return }
      let client = ControlConnection(fd: fd, token: nextToken, now: now)
      nextToken += 1
      // A peer whose credentials cannot be read is refused, like one of another uid.
      let uid = UnixSocket.peerUID(fd) ?? UInt32.max
      client.peerPID = UnixSocket.peerPID(fd) ?? 0
      client.peer = "uid \(uid), pid \(client.peerPID)"
      if uid != getuid() && uid != 0 {
        if refusedUIDs.insert(uid).inserted {
          let allowed = getuid() == 0 ? "root" : "uid \(getuid()) or root"
          notices.append("refused a control connection from uid \(uid) (only \(allowed) may control this forge)")
        }
        // Answered once its request has arrived: a reply written before the client has sent
        // anything would meet a client still writing, which then sees EPIPE, not the reason.
        client.refusal = "permission denied: uid \(uid) may not control this forge"
      }
      do {
        try loop.add(fd.raw, events: Epoll.input, token: client.token)
        clients[client.token] = client
      } catch {
        fd.close()
      }
    }
  }

  func service(_ event: Epoll.Event, respond: Responder) {
    guard let client = clients[event.token] else { return }
    if event.writable || !client.reply.isEmpty {
      writeReply(client)
      return
    }
    var chunk = [UInt8](repeating: 0, count: 4096)
    let count: Int
    do {
      guard let n = try client.fd.read(into: &chunk) else { return }  // would block
      count = n
    } catch {
      count = 0
    }
    if count == 0 {
      // End of the request without a newline (`printf '{...}' | nc -U`): answer what came.
      loop.remove(client.fd.raw)
      let line = client.request
      client.request.removeAll()
      if line.isEmpty {
        queueReply(client, ControlReply.failure("empty request"))
      } else if let reply = answer(line, client, respond) {
        queueReply(client, reply)
      }
      return
    }
    client.request.append(contentsOf: chunk[0..<count])
    if let newline = client.request.firstIndex(of: 0x0A) {
      let line = Array(client.request[..<newline])
      client.request.removeAll()
      loop.remove(client.fd.raw)
      if let reply = answer(line, client, respond) { queueReply(client, reply) }
    } else if client.request.count > ControlRequest.maximumSize {
      client.request.removeAll()
      loop.remove(client.fd.raw)
      queueReply(client, ControlReply.failure("request longer than \(ControlRequest.maximumSize) bytes"))
    }
  }

  /// nil: the reply comes later, and the client waits without a read deadline.
  private func answer(_ line: [UInt8], _ client: ControlConnection, _ respond: Responder) -> String? {
    if let refusal = client.refusal { return ControlReply.failure(refusal) }
    do {
      let request = try ControlRequest.decode(line)
      guard let reply = try respond(request, client) else {
        client.deadline = nil
        return nil
      }
      return reply
    } catch {
      return ControlReply.failure(error.message)
    }
  }

  /// Hands a client's connection over (to a stream of lines or events); the session forgets it.
  func detach(_ client: ControlConnection) -> FileDescriptor {
    loop.remove(client.fd.raw)
    clients[client.token] = nil
    return client.fd
  }

  /// The later reply to a client whose request was answered with nil.
  func answer(_ client: ControlConnection, _ reply: String) {
    guard clients[client.token] === client else { return }
    queueReply(client, reply)
  }

  private func queueReply(_ client: ControlConnection, _ text: String) {
    client.reply = Array(text.utf8)
    writeReply(client)
  }

  private func writeReply(_ client: ControlConnection) {
    var written = 0
    let outcome = client.fd.writeWithoutBlocking(client.reply, from: &written)
    client.reply.removeFirst(written)
    switch outcome {
    case .failed:
      drop(client)  // the client went away
      return
    case .wouldBlock:
      loop.remove(client.fd.raw)
      do {
        try loop.add(client.fd.raw, events: Epoll.output, token: client.token)
      } catch {
        drop(client)  // cannot wait for it: the client gets EOF rather than hang
      }
      return
    case .done:
      break
    }
    loop.remove(client.fd.raw)
    if client.waitsForExit {
      client.deadline = nil  // `stop` clients stay connected until forge exits
    } else {
      drop(client)
    }
  }

  private func drop(_ client: ControlConnection) {
    loop.remove(client.fd.raw)
    client.fd.close()
    clients[client.token] = nil
  }

  /// Drops clients that sent nothing in time, and watches the listener again after a pause.
  func timers(now: Deadline) {
    for client in clients.values {
      if let deadline = client.deadline, deadline <= now { drop(client) }
    }
    if let at = resumeAt, at <= now { watchListener(now: now) }
  }

  /// forge is exiting: the `forge stop` clients learn its exit status. So do stop requests that
  /// came too late to be served (still queued for accept, or not read yet): five `forge stop`s
  /// at once all end with forge's status, none with "forge closed the connection".
  func farewell(status: Int32, now: Deadline) {
    acceptReady(now: now)
    let line = Array(ControlReply.success([("stopped", .bool(true)), ("status", .number(Double(status)))]).utf8)
    for client in clients.values where client.waitsForExit || isLateStop(client) {
      _ = try? client.fd.write(array: line)
    }
  }

  /// Whether an unanswered client has asked to stop, reading what it has sent without waiting.
  private func isLateStop(_ client: ControlConnection) -> Bool {
    guard client.refusal == nil, client.reply.isEmpty else { return false }
    var chunk = [UInt8](repeating: 0, count: 4096)
    while !client.request.contains(0x0A) && client.request.count <= ControlRequest.maximumSize,
      let count = try? client.fd.read(into: &chunk), count > 0
    {
      client.request.append(contentsOf: chunk[0..<count])
    }
    let line = client.request.split(separator: 0x0A, maxSplits: 1, omittingEmptySubsequences: false).first ?? []
    guard case .stop? = try? ControlRequest.decode(Array(line)) else { return false }
    return true
  }

  func close() { server.close() }
}
