import CGlibcLinux
import Glibc

/// One epoll instance. Registrations carry a 64-bit token chosen by the caller; tokens are
/// never reused, so an event for a descriptor number that was closed and reopened is stale
/// and can be recognised (swift-nio's registration IDs).
final class Epoll {
  struct Event {
    let token: UInt64
    let events: UInt32

    var writable: Bool { events & UInt32(EPOLLOUT.rawValue) != 0 }
  }

  static let input = UInt32(EPOLLIN.rawValue)
  static let output = UInt32(EPOLLOUT.rawValue)

  private let fd: FileDescriptor
  /// For nesting: an epoll instance is readable when any of its descriptors is ready.
  var descriptor: Int32 { fd.raw }
  private var buffer: [epoll_event]

  init(capacity: Int = 256) throws(SystemError) {
    let raw = try retryingEINTR("epoll_create1") { epoll_create1(Int32(EPOLL_CLOEXEC)) }
    fd = FileDescriptor(raw)
    buffer = [epoll_event](repeating: epoll_event(), count: capacity)
  }

  func add(_ descriptor: Int32, events: UInt32, token: UInt64) throws(SystemError) {
    try control(EPOLL_CTL_ADD, descriptor, events, token)
  }

  /// Removing a descriptor that is not registered (ENOENT) or already closed is not an error.
  func remove(_ descriptor: Int32) {
    var unused = epoll_event()
    _ = epoll_ctl(fd.raw, EPOLL_CTL_DEL, descriptor, &unused)
  }

  private func control(
    _ op: Int32, _ descriptor: Int32, _ events: UInt32, _ token: UInt64
  ) throws(SystemError) {
    var event = epoll_event()
    event.events = events
    event.data.u64 = token
    _ = try retryingEINTR("epoll_ctl") { epoll_ctl(fd.raw, op, descriptor, &event) }
  }

  /// Sleeps until something is ready or `timeoutMilliseconds` pass (-1: no limit).
  func wait(timeoutMilliseconds: Int32) throws(SystemError) -> [Event] {
    let count = buffer.count
    let n = try buffer.withUnsafeMutableBufferPointer { (events) throws(SystemError) -> Int32 in
      try retryingEINTR("epoll_wait") {
        epoll_wait(fd.raw, events.baseAddress, Int32(count), timeoutMilliseconds)
      }
    }
    var ready: [Event] = []
    ready.reserveCapacity(Int(n))
    for i in 0..<Int(n) {
      ready.append(Event(token: buffer[i].data.u64, events: buffer[i].events))
    }
    return ready
  }
}
