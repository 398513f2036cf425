import Glibc

/// The listening control socket of a running `forge start`.
final class ControlServer {
  let path: String
  let listener: FileDescriptor
  private var closed = false

  enum OpenError: Error {
    /// Another forge answers on the socket.
    case inUse(String)
    /// Something that is not a socket is at the path.
    case notSocket(String)
    case failed(SystemError)
  }

  /// Binds the socket. A socket file that nobody answers on was left by a forge that was
  /// killed: it is replaced. One that answers belongs to a running forge: that is an error.
  static func open(_ path: String) throws(OpenError) -> ControlServer {
    // Check, replace and bind as one step: without the lock two forges starting together
    // could both find the same stale socket, and the second would unlink the first's.
    let lock = DirectoryLock(Path.directory(of: path))
    defer { lock.release() }
    if UnixSocket.isSocket(path) {
      if UnixSocket.answers(path) { throw .inUse(path) }
      UnixSocket.remove(path)
    } else if Files.exists(path) {
      throw .notSocket(path)
    }
    do {
      let listener = try UnixSocket.listen(path)
      return ControlServer(path: path, listener: listener, identity: UnixSocket.identity(path))
    } catch {
      throw .failed(error)
    }
  }

  /// Device and inode of the socket file forge created: the path is removed at exit only if it
  /// is still that file, not one a later forge bound after this one's was deleted.
  private let identity: (device: UInt64, inode: UInt64)?

  private init(path: String, listener: FileDescriptor, identity: (device: UInt64, inode: UInt64)?) {
    self.path = path
    self.listener = listener
    self.identity = identity
  }

  func close() {
    guard !closed else { return }
    closed = true
    listener.close()
    if let identity, let current = UnixSocket.identity(path), current == identity { UnixSocket.remove(path) }
  }
}

/// One client of the control socket: its partial request, its pending reply and its
/// deadline. A client that sends nothing is dropped at its deadline; none can block the loop.
final class ControlConnection {
  static let readTimeout: UInt64 = 5_000_000_000

  let fd: FileDescriptor
  let token: UInt64
  var request: [UInt8] = []
  var reply: [UInt8] = []
  var deadline: UInt64?
  /// `stop` clients stay connected until forge exits; the kernel closes them then.
  var waitsForExit = false
  /// A peer of another uid: its request is read and answered with an error, nothing more.
  var refusal: String?
  /// "uid 1000, pid 4242": who asked, for the log.
  var peer = "an unknown peer"
  var peerPID: Int32 = 0

  init(fd: FileDescriptor, token: UInt64, now: UInt64) {
    self.fd = fd
    self.token = token
    self.deadline = now + Self.readTimeout
  }
}
