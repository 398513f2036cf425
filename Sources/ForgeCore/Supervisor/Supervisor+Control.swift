import Glibc

/// Serving the control socket from the event loop.
extension Supervisor {
  func acceptControlClients() {
    guard let control = options.control else { return }
    while true {
      let accepted: FileDescriptor?
      do {
        accepted = try UnixSocket.accept(control.listener)
      } catch {
        // Out of descriptors (EMFILE, ENFILE) or memory: the pending connection stays queued
        // and the listener stays readable, so stop watching it for a second rather than spin.
        epoll.remove(control.listener.raw)
        controlResumeAt = Clock.now() + Self.controlPause
        if !controlFailureAnnounced {
          controlFailureAnnounced = true
          announce("control socket: \(error); not accepting connections for a second")
        }
        return
      }
      controlFailureAnnounced = false
      guard let fd = accepted else { return }
      let token = nextToken
      nextToken += 1
      let client = ControlConnection(fd: fd, token: token, now: Clock.now())
      // A peer whose credentials cannot be read is refused, like one of another uid.
      let uid = UnixSocket.peerUID(fd) ?? UInt32.max
      if uid != getuid() && uid != 0 {
        if refusedUIDs.insert(uid).inserted {
          let allowed = getuid() == 0 ? "root" : "uid \(getuid()) or root"
          announce("refused a control connection from uid \(uid) (only \(allowed) may control this forge)")
        }
        // Answered once its request has arrived: a reply written before the client has sent
        // anything would meet a client still writing, which then sees EPIPE, not the reason.
        client.refusal = "permission denied: uid \(uid) may not control this forge"
      }
      do {
        try epoll.add(fd.raw, events: Epoll.input, token: token)
        clients[token] = client
      } catch {
        fd.close()
      }
    }
  }

  func serviceClient(_ client: ControlConnection, _ event: Epoll.Event) {
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
      epoll.remove(client.fd.raw)
      let line = client.request
      client.request.removeAll()
      queueReply(client, line.isEmpty ? ControlReply.failure("empty request") : respond(to: line, client: client))
      return
    }
    client.request.append(contentsOf: chunk[0..<count])
    if let newline = client.request.firstIndex(of: 0x0A) {
      let line = Array(client.request[..<newline])
      client.request.removeAll()
      epoll.remove(client.fd.raw)
      queueReply(client, respond(to: line, client: client))
    } else if client.request.count > ControlRequest.maximumSize {
      client.request.removeAll()
      epoll.remove(client.fd.raw)
      queueReply(client, ControlReply.failure("request longer than \(ControlRequest.maximumSize) bytes"))
    }
  }

  private func respond(to line: [UInt8], client: ControlConnection) -> String {
    if let refusal = client.refusal { return ControlReply.failure(refusal) }
    do {
      let request = try ControlRequest.decode(line)
      return try handle(request, client: client)
    } catch {
      return ControlReply.failure(error.message)
    }
  }

  private func queueReply(_ client: ControlConnection, _ text: String) {
    client.reply = Array(text.utf8)
    writeReply(client)
  }

  private func writeReply(_ client: ControlConnection) {
    while !client.reply.isEmpty {
      let result: Int?
      do {
        result = try client.fd.write(array: client.reply)
      } catch {
        dropClient(client)  // the client went away
        return
      }
      guard let n = result else {
        epoll.remove(client.fd.raw)
        try? epoll.add(client.fd.raw, events: Epoll.output, token: client.token)
        clients[client.token] = client
        return
      }
      client.reply.removeFirst(n)
    }
    epoll.remove(client.fd.raw)
    if client.waitsForExit {
      client.deadline = nil
      clients[client.token] = client
    } else {
      dropClient(client)
    }
  }

  private func dropClient(_ client: ControlConnection) {
    epoll.remove(client.fd.raw)
    client.fd.close()
    clients[client.token] = nil
  }

  /// Watches the control socket again after a pause for want of descriptors.
  func resumeControl(now: UInt64) {
    guard let at = controlResumeAt, at <= now, let control = options.control else { return }
    controlResumeAt = nil
    try? epoll.add(control.listener.raw, events: Epoll.input, token: Self.controlToken)
  }

  func expireClients(now: UInt64) {
    for client in clients.values {
      if let deadline = client.deadline, deadline <= now { dropClient(client) }
    }
  }
}
