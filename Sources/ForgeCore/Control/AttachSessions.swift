/// Callers attached to instances' terminals (`forge attach`): one per instance. Their
/// keystrokes go to the terminal, the terminal's raw output comes back (the log stream keeps
/// its own copy, unchanged), and their window size is set on the terminal while attached.
final class AttachSessions {
  static let bufferLimit = 1 << 20
  /// forge's own size for its terminals, restored on detach.
  static let defaultSize = (rows: 50, columns: 200)

  final class Session {
    let fd: FileDescriptor
    let token: UInt64
    let instance: FormationMachine.InstanceID
    let terminal: PipeStream
    let peerPID: Int32
    var inbound: [UInt8] = []
    let outbound = OutputBuffer(capacity: 64 * 1024)
    var watchingOutput = false
    var closing = false

    init(fd: FileDescriptor, token: UInt64, instance: FormationMachine.InstanceID, terminal: PipeStream, peerPID: Int32)
    {
      self.fd = fd
      self.token = token
      self.instance = instance
      self.terminal = terminal
      self.peerPID = peerPID
    }
  }

  private let loop: Epoll
  private var sessions: [UInt64: Session] = [:]
  private var byInstance: [FormationMachine.InstanceID: Session] = [:]
  private var nextToken: UInt64

  init(loop: Epoll, firstToken: UInt64) {
    self.loop = loop
    self.nextToken = firstToken
  }

  func owns(_ token: UInt64) -> Bool { sessions[token] != nil }

  func holder(of instance: FormationMachine.InstanceID) -> Int32? { byInstance[instance]?.peerPID }

  /// Takes over a client's connection; what it sees first is `first` (the reply and the last
  /// screenful). A caller already attached there is told it was taken over.
  func attach(
    _ fd: FileDescriptor, to instance: FormationMachine.InstanceID, terminal: PipeStream, peerPID: Int32,
    rows: Int, columns: Int, first: [UInt8]
  ) {
    if let old = byInstance[instance] {
      finish(old, with: .notice("taken over by pid \(peerPID)"), restoringSize: false)  // the new size follows
    }
    let session = Session(fd: fd, token: nextToken, instance: instance, terminal: terminal, peerPID: peerPID)
    nextToken += 1
    sessions[session.token] = session
    byInstance[instance] = session
    terminal.attached = true
    setSize(session, rows: rows, columns: columns)
    session.outbound.append(first)
    do {
      try loop.add(fd.raw, events: Epoll.input, token: session.token)
    } catch {
      drop(session)
      return
    }
    flush(session)
  }

  /// Raw output of a terminal that someone is attached to.
  func output(_ bytes: UnsafeRawBufferPointer, of stream: PipeStream) {
    guard let session = byInstance[stream.instance], session.terminal === stream, !session.closing else { return }
    var offset = 0
    while offset < bytes.count {
      let piece = Array(bytes[offset..<min(bytes.count, offset + AttachFrame.maximumPayload)])
      offset += piece.count
      // A caller that does not read loses output rather than slow the formation.
      if session.outbound.count + piece.count > Self.bufferLimit { return }
      session.outbound.append(AttachFrame.data(piece).encoded)
    }
    flush(session)
  }

  /// The instance's process has exited: its status ends the session.
  func ended(_ instance: FormationMachine.InstanceID, status: Int32) {
    if let session = byInstance[instance] { finish(session, with: .exit(status)) }
  }

  func event(_ token: UInt64, writable: Bool) {
    guard let session = sessions[token] else { return }
    if writable || session.watchingOutput {
      flush(session)
      if session.closing || writable { return }
    }
    var chunk = [UInt8](repeating: 0, count: 4096)
    let result: Int?
    do {
      result = try session.fd.read(into: &chunk)
    } catch {
      drop(session)
      return
    }
    guard let count = result else { return }
    if count == 0 {
      drop(session)  // the caller detached or went away
      return
    }
    session.inbound += chunk[0..<count]
    for frame in AttachFrame.decode(&session.inbound) {
      switch frame {
      case .data(let bytes):
        // Keystrokes: a terminal's input queue is large; what does not fit is dropped.
        _ = try? session.terminal.fd.write(array: bytes)
      case .windowSize(let rows, let columns):
        setSize(session, rows: rows, columns: columns)
      case .exit, .notice:
        break
      }
    }
  }

  private func setSize(_ session: Session, rows: Int, columns: Int) {
    guard session.terminal.isOpen, rows > 0, columns > 0 else { return }
    setTerminalSize(session.terminal.fd, rows: rows, columns: columns)
  }

  private func finish(_ session: Session, with frame: AttachFrame, restoringSize: Bool = true) {
    session.outbound.append(frame.encoded)
    session.closing = true
    release(session, restoringSize: restoringSize)
    flush(session)
  }

  /// The terminal is no longer this caller's: forge's size again.
  private func release(_ session: Session, restoringSize: Bool = true) {
    guard byInstance[session.instance] === session else { return }
    byInstance[session.instance] = nil
    session.terminal.attached = false
    if session.terminal.isOpen && restoringSize {
      setTerminalSize(session.terminal.fd, rows: Self.defaultSize.rows, columns: Self.defaultSize.columns)
    }
  }

  private func flush(_ session: Session) {
    switch session.fd.writeWithoutBlocking(session.outbound) {
    case .failed:
      drop(session)
      return
    case .wouldBlock:
      if !session.watchingOutput {
        session.watchingOutput = true
        loop.remove(session.fd.raw)
        if (try? loop.add(session.fd.raw, events: Epoll.output, token: session.token)) == nil { drop(session) }
      }
      return
    case .done:
      break
    }
    if session.closing {
      drop(session)
    } else if session.watchingOutput {
      session.watchingOutput = false
      loop.remove(session.fd.raw)
      if (try? loop.add(session.fd.raw, events: Epoll.input, token: session.token)) == nil { drop(session) }
    }
  }

  private func drop(_ session: Session) {
    release(session)
    loop.remove(session.fd.raw)
    session.fd.close()
    sessions[session.token] = nil
  }

  /// forge is exiting.
  func closeAll() {
    for session in sessions.values {
      finish(session, with: .notice("forge has stopped"))
    }
  }
}
